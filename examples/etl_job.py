# A nightly ETL job to run in a session, as the README's "From the shell" block does:
#
#     spe-host start etl examples/etl_job.py --arg day=2026-11-21 --name "nightly etl"
#
# `spe` is the handle the host binds in every session; `day` and `batches` come from
# `--arg` (both optional here). It reports progress for `ls` and `wait`, prints what it
# does (`spe-host logs -f etl`), and commits each batch inside `spe.critical(...)`, so
# a stop waits for the commit in flight and lands between batches: `spe-host stop etl`
# never leaves half a batch behind.
import hashlib
import time

day = globals().get("day", time.strftime("%Y-%m-%d"))
batches = int(globals().get("batches", 20))
loaded = 0

print(f"etl for {day}: {batches} batches")
for batch in range(1, batches + 1):
    spe.progress(100 * (batch - 1) / batches, f"batch {batch}/{batches}: extracting")  # type: ignore[name-defined]  # noqa: F821
    rows = [f"{day}:{batch}:{n}" for n in range(1000)]
    time.sleep(0.2)  # the "extract": a call into a library, which a stop waits for
    digests = [hashlib.sha256(row.encode()).hexdigest() for row in rows]
    with spe.critical(f"committing batch {batch}"):  # type: ignore[name-defined]  # noqa: F821
        time.sleep(0.1)  # the "load": all of it or none of it
        loaded += len(digests)
    print(f"batch {batch}: {len(digests)} rows loaded ({loaded} in all)")
spe.progress(100, f"{loaded} rows loaded")  # type: ignore[name-defined]  # noqa: F821
print(f"etl for {day} done: {loaded} rows")
