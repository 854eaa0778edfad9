#!/usr/bin/env python3
"""The figures BENCHMARKS.md quotes besides throughput and latency, read from the
server itself: a snapshot of /metrics and of per-process CPU before a run, another
after, and the difference.

    loadtest/figures.py snapshot BASE_URL FILE     # before and after the run
    loadtest/figures.py report BEFORE AFTER        # prints the figures, writes JSON

What it reports (only what happened between the two snapshots):
- per route: requests, statuses, the server's own mean time per request
  (surge_http_request_duration_seconds sum / count, measured inside Surge, so
  without the load generator's queueing);
- group commit: order batches and orders per batch (surge_shop_order_batch_size);
- refusal fast path: out_of_stock and unpaid_limit answers given without a
  transaction (surge_shop_refusal_fast_path_total, by reason) and their share of all
  409s on the order route;
- outbox events published;
- CPU split: CPU seconds per process name (surge, postgres, redis-server, ...) from
  /proc, and the rest of the machine's busy time (the load generator, which exits
  before the second snapshot, is in "other").
Loopback servers only.
"""
import json
import os
import re
import sys
import time
import urllib.request

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(base):
    if not re.match(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$", base):
        sys.exit(f"loopback only, got {base}")
    text = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
    samples = []
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if not m or line.startswith("#"):
            continue
        labels = dict(LABEL.findall(m.group(3) or ""))
        samples.append([m.group(1), labels, float(m.group(4))])
    return samples


def cpu():
    """CPU seconds per process name, and the machine's busy and total time."""
    tick = os.sysconf("SC_CLK_TCK")
    per = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        used = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        per[f"{pid}:{name}"] = used
    cpu_line = open("/proc/stat").readline().split()[1:]
    values = [int(v) / tick for v in cpu_line]
    idle = values[3] + values[4]
    return {"processes": per, "busy_s": sum(values) - idle, "total_s": sum(values)}


def snapshot(base, path):
    json.dump({"at": time.time(), "metrics": scrape(base), "cpu": cpu()}, open(path, "w"))


def total(samples, name, **want):
    return sum(v for n, labels, v in samples
               if n == name and all(labels.get(k) == w for k, w in want.items()))


def by(samples, name, key):
    out = {}
    for n, labels, v in samples:
        if n == name:
            k = tuple(labels.get(x, "") for x in key)
            out[k] = out.get(k, 0) + v
    return out


def report(before_path, after_path):
    b, a = json.load(open(before_path)), json.load(open(after_path))
    mb, ma = b["metrics"], a["metrics"]
    seconds = a["at"] - b["at"]
    d = lambda name, **w: total(ma, name, **w) - total(mb, name, **w)

    routes = {}
    counts_a = by(ma, "surge_http_requests_total", ("method", "route", "status"))
    counts_b = by(mb, "surge_http_requests_total", ("method", "route", "status"))
    for (method, route, status), v in counts_a.items():
        n = v - counts_b.get((method, route, status), 0)
        if n > 0:
            r = routes.setdefault(f"{method} {route}", {"requests": 0, "statuses": {}})
            r["requests"] += int(n)
            r["statuses"][status] = int(n)
    for key in routes:
        method, route = key.split(" ", 1)
        n = d("surge_http_request_duration_seconds_count", method=method, route=route)
        s = d("surge_http_request_duration_seconds_sum", method=method, route=route)
        routes[key]["server_mean_ms"] = round(1000 * s / n, 2) if n else None

    batches = d("surge_shop_order_batch_size_count")
    batched = d("surge_shop_order_batch_size_sum")
    fast_sold_out = d("surge_shop_refusal_fast_path_total", reason="sold_out")
    fast_cap = d("surge_shop_refusal_fast_path_total", reason="unpaid_limit")
    fast = fast_sold_out + fast_cap
    order_409 = routes.get("POST /api/v1/shop/orders", {}).get("statuses", {}).get("409", 0)

    pa, pb = a["cpu"]["processes"], b["cpu"]["processes"]
    per_name = {}
    for key, used in pa.items():
        if key in pb:  # alive through the whole run
            name = key.split(":", 1)[1]
            per_name[name] = per_name.get(name, 0) + used - pb[key]
    busy = a["cpu"]["busy_s"] - b["cpu"]["busy_s"]
    wall_cpu = a["cpu"]["total_s"] - b["cpu"]["total_s"]
    top = {n: round(s, 1) for n, s in sorted(per_name.items(), key=lambda x: -x[1]) if s >= 0.5}
    top["other (load generator, short-lived)"] = round(busy - sum(per_name.values()), 1)

    out = {
        "seconds": round(seconds, 1),
        "routes": routes,
        "order_batches": int(batches),
        "orders_per_batch": round(batched / batches, 1) if batches else None,
        "fast_path_refusals": {"sold_out": int(fast_sold_out), "unpaid_limit": int(fast_cap)},
        "fast_path_share_of_409": round(fast / order_409, 4) if order_409 else None,
        "outbox_published": int(d("surge_outbox_published_total")),
        "cpu_seconds": top,
        "cpu_busy_share": round(busy / wall_cpu, 3) if wall_cpu else None,
    }
    print(f"== server-side figures over {out['seconds']} s")
    for key, r in sorted(routes.items(), key=lambda x: -x[1]["requests"]):
        print(f"  {key}: {r['requests']} requests {r['statuses']}, server mean {r['server_mean_ms']} ms")
    if batches:
        print(f"  group commit: {out['order_batches']} batches, {out['orders_per_batch']} orders per batch")
    if fast or order_409:
        print(f"  refused without a transaction: {int(fast)} of {order_409} 409s on the order route"
              f" (sold out {int(fast_sold_out)}, unpaid limit {int(fast_cap)})")
    print(f"  outbox events published: {out['outbox_published']}")
    busy_cpu = sum(v for v in top.values() if v > 0) or 1
    split = ", ".join(f"{n} {s} s ({100 * s / busy_cpu:.0f} %)" for n, s in top.items())
    print(f"  CPU: {split}; machine busy {100 * (out['cpu_busy_share'] or 0):.0f} %")
    return out


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "snapshot":
        snapshot(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "report":
        print(json.dumps(report(sys.argv[2], sys.argv[3])), file=open(
            os.path.join(os.path.dirname(sys.argv[3]) or ".", "figures.json"), "w"))
    else:
        sys.exit(__doc__)
