"""CPython's multiprocessing on the same workloads as `cargo xtask bench`.

Usage: python3 bench.py METRIC SIZE. Prints {"value": ...} in the metric's unit, after
checking that what was received is what was sent.
"""
import json
import multiprocessing
import sys
import time


def start_join(n):
    start = time.perf_counter()
    for _ in range(n):
        p = multiprocessing.Process(target=int)
        p.start()
        p.join()
        assert p.exitcode == 0
    return (time.perf_counter() - start) / n * 1e6  # us per process


def _consume_small(q, n, ok):
    for i in range(n):
        ident, x, tag = q.get()
        if ident != i or x != i * 0.5 or tag != b"tag!":
            return
    ok.set()


def queue_small(n):
    q = multiprocessing.Queue()
    ok = multiprocessing.Event()
    consumer = multiprocessing.Process(target=_consume_small, args=(q, n, ok))
    start = time.perf_counter()
    consumer.start()
    for i in range(n):
        q.put((i, i * 0.5, b"tag!"))
    consumer.join()
    elapsed = time.perf_counter() - start
    assert ok.is_set(), "the consumer received something else"
    return n / elapsed  # messages per second


def _consume_big(q, n, ok):
    for i in range(n):
        chunk = q.get()
        if len(chunk) != 1 << 20 or chunk[0] != i % 256 or chunk[-1] != i % 256:
            return
    ok.set()


def queue_1mib(n):
    q = multiprocessing.Queue()
    ok = multiprocessing.Event()
    consumer = multiprocessing.Process(target=_consume_big, args=(q, n, ok))
    start = time.perf_counter()
    consumer.start()
    for i in range(n):
        q.put(bytes([i % 256]) * (1 << 20))
    consumer.join()
    elapsed = time.perf_counter() - start
    assert ok.is_set(), "the consumer received something else"
    return n * (1 << 20) / elapsed / 1e6  # MB per second


def _worker(tasks, done):
    count = 0
    for task in iter(tasks.get, None):
        count += task
        tasks.task_done()
    tasks.task_done()
    done.put(count)


def joinable(n, consumers=4):
    tasks = multiprocessing.JoinableQueue()
    done = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_worker, args=(tasks, done)) for _ in range(consumers)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for _ in range(n):
        tasks.put(1)
    tasks.join()
    elapsed = time.perf_counter() - start
    for _ in workers:
        tasks.put(None)
    total = sum(done.get() for _ in workers)
    for w in workers:
        w.join()
    assert total == n, f"{total} tasks done, {n} put"
    return n / elapsed  # tasks per second


def _pong(ping, pong, n):
    for _ in range(n):
        ping.wait()
        ping.clear()
        pong.set()


def event_ping_pong(n):
    ping, pong = multiprocessing.Event(), multiprocessing.Event()
    p = multiprocessing.Process(target=_pong, args=(ping, pong, n))
    p.start()
    start = time.perf_counter()
    for _ in range(n):
        ping.set()
        pong.wait()
        pong.clear()
    elapsed = time.perf_counter() - start
    p.join()
    assert p.exitcode == 0
    return elapsed / n * 1e6  # us per round trip


def _take_turns(lock, turn, me, n):
    done = 0
    while done < n:
        with lock:
            if turn.value == me:
                turn.value = 1 - me
                done += 1


def lock_handoff(n):
    lock = multiprocessing.Lock()
    turn = multiprocessing.RawValue("i", 0)
    p = multiprocessing.Process(target=_take_turns, args=(lock, turn, 1, n))
    p.start()
    start = time.perf_counter()
    _take_turns(lock, turn, 0, n)
    p.join()
    elapsed = time.perf_counter() - start
    assert p.exitcode == 0
    return elapsed / n * 1e6  # us per round trip


def _increment(counter, n):
    for _ in range(n):
        with counter.get_lock():
            counter.value += 1


def value_increment(n):
    counter = multiprocessing.Value("q", 0)
    p = multiprocessing.Process(target=_increment, args=(counter, n))
    p.start()
    start = time.perf_counter()
    _increment(counter, n)
    p.join()
    elapsed = time.perf_counter() - start
    assert p.exitcode == 0 and counter.value == 2 * n, f"the counter is {counter.value}"
    return elapsed / (2 * n) * 1e9  # ns per increment


def _square(x):
    return x * x


def pool_map_tiny(n):
    with multiprocessing.Pool() as pool:
        start = time.perf_counter()
        results = pool.map(_square, range(n))
        elapsed = time.perf_counter() - start
    assert results == [i * i for i in range(n)], "map's results are not the squares"
    return n / elapsed  # tasks per second


MASK = (1 << 64) - 1
MIX_ROUNDS = 2_000_000


def _mix(rounds):
    # The same arithmetic as the Rust task (bench/src/workloads.rs `mix`), on 64-bit integers.
    x = rounds ^ 0x9E3779B97F4A7C15
    for _ in range(rounds):
        x ^= x >> 33
        x = (x * 0xFF51AFD7ED558CCD) & MASK
        x ^= x >> 29
    return x


def pool_map_cpu(n, rounds=MIX_ROUNDS // 100):
    # CPython's interpreter takes about 100 times longer per step: a hundredth of the rounds per
    # task, and the time scaled back up, so that the figure is "the same work" (milliseconds).
    with multiprocessing.Pool() as pool:
        start = time.perf_counter()
        results = pool.map(_mix, [rounds] * n)
        elapsed = time.perf_counter() - start
    assert len(set(results)) == 1 and len(results) == n
    return elapsed * 1e3 * (MIX_ROUNDS / rounds)  # ms per map of n full tasks


def manager_set_get(n):
    with multiprocessing.Manager() as mgr:
        d = mgr.dict()
        start = time.perf_counter()
        for i in range(n):
            d[i] = i * 3
            assert d[i] == i * 3
        elapsed = time.perf_counter() - start
    return elapsed / n * 1e6  # us per set + get


METRICS = {
    "start-join": start_join,
    "queue-small": queue_small,
    "queue-1mib": queue_1mib,
    "joinable-20k": joinable,
    "event-ping-pong": event_ping_pong,
    "event-flags": event_ping_pong,
    "lock-handoff": lock_handoff,
    "value-increment": value_increment,
    "pool-map-tiny": pool_map_tiny,
    "pool-map-cpu": pool_map_cpu,
    "manager-set-get": manager_set_get,
}

if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
    metric, size = sys.argv[1], int(sys.argv[2])
    print(json.dumps({"value": METRICS[metric](size), "version": sys.version.split()[0]}))
