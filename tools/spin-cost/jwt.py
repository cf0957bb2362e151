"""An HS256 token spin-logs accepts (its dev claims), for tools/spin-cost/run.sh:
python3 jwt.py <secret> <uid>; superuser for a day."""
import base64, hmac, hashlib, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
secret = sys.argv[1].encode()
now = int(time.time())
claims = {"uid": sys.argv[2] if len(sys.argv) > 2 else "bench", "permissions": ["dcos:superuser"], "iat": now, "exp": now + 86400}
signed = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(claims, separators=(",", ":")).encode())
print(signed + "." + b64(hmac.new(secret, signed.encode(), hashlib.sha256).digest()))
