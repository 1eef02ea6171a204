#!/usr/bin/env python3
# test/load/ttyrun.py: run a command on a new pseudo-terminal (its controlling
# terminal, /dev/tty), typing ANSWER when its output shows PROMPT.
#
#   python3 ttyrun.py OUT PROMPT ANSWER COMMAND [ARG]...
#
# Everything the command writes to the terminal goes to OUT; exits with
# the command's exit status (124 when it has not ended after 20 seconds).
import os
import pty
import select
import sys
import time

out, prompt, answer, argv = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode(), sys.argv[4:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
seen = b""
answered = False
deadline = time.time() + 20
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if fd in r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        seen += data
        if not answered and prompt in seen:
            time.sleep(0.2)  # let the program turn echo off first
            os.write(fd, answer + b"\n")
            answered = True
else:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    open(out, "wb").write(seen)
    sys.exit(124)
_, status = os.waitpid(pid, 0)
open(out, "wb").write(seen)
sys.exit(os.waitstatus_to_exitcode(status))
