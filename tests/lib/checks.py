"""checks.py -- what the Python tests share: a pass/fail tally that prints
each failure with its detail, free loopback ports, waiting for a listener,
and running cases each in its own temporary directory.

    from checks import check, finish, free_port, run_cases
    check("what", cond, detail)      # counts; prints "FAIL what detail" when cond is false
    run_cases(case_a, case_b)        # each gets a fresh directory; an exception is a failure
    finish()                         # prints "N passed, N failed"; exit 1 unless all passed
"""
import os, shutil, socket, sys, tempfile, time, traceback

passed = failed = 0


def check(what, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (what, str(detail)[-1500:]))
    return cond


def free_port(kind=socket.SOCK_STREAM):
    """A loopback port nobody listens on now (TCP, or UDP with SOCK_DGRAM)."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_tcp(port, proc=None, what="the server", tries=500):
    """Wait until 127.0.0.1:port accepts; AssertionError when proc exits first or it never does."""
    for _ in range(tries):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise AssertionError("%s exited %d" % (what, proc.returncode))
            time.sleep(0.02)
    raise AssertionError("%s did not come up" % what)


def run_cases(*cases, prefix="tms-test-"):
    """Run each case(d) with a fresh temporary directory d, removed after (kept when TMS_TEST_KEEP is set)."""
    for case in cases:
        d = tempfile.mkdtemp(prefix=prefix)
        try:
            case(d)
        except Exception as e:
            check(case.__name__, False, "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc(limit=-3)))
        finally:
            if not os.environ.get("TMS_TEST_KEEP"):
                shutil.rmtree(d, ignore_errors=True)


def finish():
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(0 if failed == 0 and passed > 0 else 1)
