# A background job for the ticker service: it reads the app's live counter forever,
# so only a stop ends it. `app` and `spe` are names the host binds in its session.
import time

n = 0
while True:
    n += 1
    spe.progress(min(99, n * 5), f"counter is {app.counter}")  # type: ignore[name-defined]  # noqa: F821
    print("tick", n, "counter", app.counter)  # type: ignore[name-defined]  # noqa: F821
    time.sleep(0.1)
