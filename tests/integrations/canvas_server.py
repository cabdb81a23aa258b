"""A small Canvas on 127.0.0.1 for the passback's tests: the REST endpoints `lms push` uses, with the shapes of
Canvas's API documentation (Courses, Assignments, Users with `Link` pagination, Submissions and their
comment file upload), bearer-token auth (401 with WWW-Authenticate for a bad token), and failures on demand:
429 with Retry-After, 500, a slow answer (the client's timeout), or a request that hangs until released."""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN = "good-token"
PER_PAGE = 2


class FakeCanvas:
    def __init__(self, users: list[dict], grading_type: str = "points", points_possible: float = 10):
        self.users = users  # [{"id", "name", "sis_user_id", "login_id"}]
        self.assignment = {"id": 7, "course_id": 1, "name": "CNN practical", "grading_type": grading_type,
                           "points_possible": points_possible}
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, form) of every request
        self.grades: dict[int, list[str]] = {}  # user id -> every posted_grade applied
        self.comments: dict[int, list[dict]] = {}  # user id -> its comments
        self.files: dict[int, str] = {}
        self.fail: list[tuple[str, int, dict]] = []  # (PUT/GET/..., status, headers) for the next matching requests
        self.slow: set[str] = set()  # methods that answer after the client's timeout, once each
        self.hang_after_puts: int | None = None  # the PUT after this many hangs (until `release`) ...
        self.apply_hung = False  # ... applied first, or not at all
        self.released = threading.Event()
        self.hanging = threading.Event()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.handle(self, "GET")

            def do_PUT(self):
                server.handle(self, "PUT")

            def do_POST(self):
                server.handle(self, "POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def puts(self) -> list:
        return [r for r in self.requests if r[0] == "PUT"]

    # --- the endpoints
    def handle(self, h, method: str):
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        form = parse_qs(body.decode("latin-1")) if "urlencoded" in (h.headers.get("Content-Type") or "") else {}
        query = parse_qs(parts.query)
        with self.lock:
            self.requests.append((method, parts.path, form))
            for i, (m, status, headers) in enumerate(self.fail):
                if m == method:
                    del self.fail[i]
                    return self.send(h, status, {"errors": [{"message": "injected"}]}, headers)
        if method in self.slow:
            self.slow.discard(method)
            threading.Event().wait(2.0)  # past the client's timeout; the request is not applied
            return self.send(h, 500, {})
        if parts.path.startswith("/upload/"):  # the file store: no token (upload_params carry the authority)
            uid = int(parts.path.rsplit("/", 1)[1])
            self.files[uid] = body.decode("latin-1")
            return self.send(h, 201, {"id": 900 + uid, "url": f"{self.url}/files/{900 + uid}",
                                      "display_name": "report.html", "content-type": "text/html"})
        if h.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.send(h, 401, {"errors": [{"message": "Invalid access token."}]},
                             {"WWW-Authenticate": 'Bearer realm="canvas-lms"'})
        p = parts.path
        if method == "GET" and p == "/api/v1/courses/1":
            return self.send(h, 200, {"id": 1, "name": "Deep learning", "course_code": "DL"})
        if method == "GET" and p == "/api/v1/courses/1/assignments/7":
            return self.send(h, 200, self.assignment)
        if method == "GET" and p in ("/api/v1/courses/1/users", "/api/v1/courses/1/search_users"):  # both documented
            page = int(query.get("page", ["1"])[0])
            chunk = self.users[(page - 1) * PER_PAGE:page * PER_PAGE]
            links = [f'<{self.url}{p}?enrollment_type[]=student&page={page}&per_page={PER_PAGE}>; rel="current"']
            if page * PER_PAGE < len(self.users):
                links.append(f'<{self.url}{p}?enrollment_type[]=student&page={page + 1}&per_page={PER_PAGE}>; rel="next"')
            return self.send(h, 200, chunk, {"Link": ",".join(links)})
        m = re.fullmatch(r"/api/v1/courses/1/assignments/7/submissions/(\d+)(/comments/files)?", p)
        if m and int(m.group(1)) in {u["id"] for u in self.users}:
            uid = int(m.group(1))
            if method == "POST" and m.group(2):
                return self.send(h, 200, {"upload_url": f"{self.url}/upload/{uid}",
                                          "upload_params": {"filename": form.get("name", [""])[0]}})
            if method == "PUT":
                return self.put(h, uid, form)
            if method == "GET":
                return self.send(h, 200, self.submission(uid))
        return self.send(h, 404, {"errors": [{"message": "The specified resource does not exist."}]})

    def put(self, h, uid: int, form: dict):
        with self.lock:
            hang = self.hang_after_puts is not None and len(self.puts()) == self.hang_after_puts + 1
        if hang and not self.apply_hung:
            self.hanging.set()
            self.released.wait()
            return self.send(h, 500, {})
        self.grades.setdefault(uid, []).extend(form.get("submission[posted_grade]", []))
        text = form.get("comment[text_comment]", [None])[0]
        if text is not None or "comment[file_ids][]" in form:
            self.comments.setdefault(uid, []).append({"id": len(self.requests), "comment": text or "",
                                                      "attachments": form.get("comment[file_ids][]", [])})
        if hang:
            self.hanging.set()
            self.released.wait()
        return self.send(h, 200, self.submission(uid))

    def submission(self, uid: int) -> dict:
        grades = self.grades.get(uid)
        return {"id": 5000 + uid, "user_id": uid, "assignment_id": 7, "grade": grades[-1] if grades else None,
                "workflow_state": "graded" if grades else "unsubmitted",
                "submission_comments": self.comments.get(uid, [])}

    @staticmethod
    def send(h, status: int, payload, headers: dict | None = None):
        data = json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json; charset=utf-8")
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
