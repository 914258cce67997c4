# Four writers POST Patients for 12 s while run.sh restarts PostgreSQL; prints the answers,
# the slowest one, and how many acknowledged writes are missing afterwards (must be 0).
import json, os, ssl, threading, time, urllib.request, urllib.error
ctx = ssl.create_default_context(cafile=os.environ["WORK"] + "/data/tls/ca.pem")
base = "https://127.0.0.1:18500/fhir"
tok = os.environ["TOKEN"]
log, lock = [], threading.Lock()
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=body and json.dumps(body).encode(),
        headers={"authorization": "Bearer " + tok, "content-type": "application/fhir+json"})
    t = time.time()
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null"), time.time() - t
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), time.time() - t
    except Exception as e:
        return 0, str(type(e).__name__), time.time() - t
def writer(w):
    end = time.time() + 12
    n = 0
    while time.time() < end:
        n += 1
        s, b, dt = call("POST", "/Patient", {"resourceType": "Patient", "identifier": [{"system": "urn:restart", "value": f"w{w}-{n}"}]})
        with lock:
            log.append((s, b.get("id") if isinstance(b, dict) else None, dt, b.get("resourceType") if isinstance(b, dict) else b))
ts = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
from collections import Counter
print("answers:", dict(Counter(s for s, *_ in log)), "slowest %.2fs" % max(d for _, _, d, _ in log))
print("non-201 bodies:", dict(Counter(r for s, _, _, r in log if s != 201)))
acked = [i for s, i, _, _ in log if s == 201]
missing = [i for i in acked if call("GET", f"/Patient/{i}")[0] != 200]
print(f"acknowledged {len(acked)}, missing afterwards {len(missing)}")
s, b, _ = call("GET", "/Patient?identifier=urn:restart|&_total=accurate&_count=1")
print("search total", b.get("total"), "(>= acknowledged)")
bad = [s for s, *_ in log if s not in (201, 503)]
slow = max(d for _, _, d, _ in log)
if missing or bad or slow > 10 or any(r != "OperationOutcome" for s, _, _, r in log if s == 503):
    raise SystemExit(f"FAIL: missing {len(missing)}, unexpected answers {bad[:5]}, slowest {slow:.1f}s")
print("ok")
