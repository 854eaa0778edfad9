#!/usr/bin/env python3
"""Creates the flash-sale product and N logged-in buyers; writes their tokens for wrk.

Usage: setup.py BASE_URL STOCK USERS OUT_DIR   (talks only to the given loopback URL)
"""
import json
import sys
import time
import urllib.request
import urllib.error
from concurrent.futures import ThreadPoolExecutor

base, stock, users, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
assert base.startswith(("http://127.", "http://localhost")), "loopback only"
admin_email = "admin@surge.local"
admin_password = "surge-admin-pass-1"
run = str(int(time.time()))[-6:]


def call(method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(req, data, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def login(email, password):
    s, b = call("POST", "/api/v1/identity/login", {"email": email, "password": password})
    assert s == 200, (s, b)
    return b["access_token"]


admin = login(admin_email, admin_password)
s, p = call("POST", "/api/v1/shop/products",
            {"name": "wrk flash sale", "price": 99000, "stock": stock, "category": "bench"}, admin)
assert s == 201, (s, p)


def buyer(i):
    email = f"wrk{i}-{run}@example.com"
    s, b = call("POST", "/api/v1/identity/signup",
                {"email": email, "password": "password-1234", "nickname": f"w{i}_{run}"})
    assert s == 201, (s, b)
    return login(email, "password-1234")


with ThreadPoolExecutor(16) as pool:
    tokens = list(pool.map(buyer, range(users)))
with open(f"{out}/tokens.txt", "w") as f:
    f.write("\n".join(tokens) + "\n")
with open(f"{out}/product.txt", "w") as f:
    f.write(p["id"] + "\n")
print(json.dumps({"product_id": p["id"], "buyers": len(tokens), "stock": stock}))
