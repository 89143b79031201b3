"""The same CPU-bound work with threads and with processes, in CPython.

Run by `exercise --python`: prints one JSON object with the times, in seconds.
Usage: python3 gil.py WORKERS ITERATIONS REPS
"""
import json
import multiprocessing
import sys
import threading
import time


def work(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def timed(make, workers, n):
    jobs = [make(target=work, args=(n,)) for _ in range(workers)]
    start = time.perf_counter()
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    return time.perf_counter() - start


def main():
    workers, n, reps = (int(a) for a in sys.argv[1:4])
    multiprocessing.set_start_method("fork")
    samples = {"serial": [], "threads": [], "processes": []}
    for rep in range(reps + 1):
        start = time.perf_counter()
        for _ in range(workers):
            work(n)
        serial = time.perf_counter() - start
        order = [("threads", threading.Thread), ("processes", multiprocessing.Process)]
        if rep % 2:
            order.reverse()
        times = {name: timed(make, workers, n) for name, make in order}
        if rep > 0:  # the first round is a warm-up
            samples["serial"].append(serial)
            for name, t in times.items():
                samples[name].append(t)
    samples["version"] = sys.version.split()[0]
    print(json.dumps(samples))


if __name__ == "__main__":
    main()
