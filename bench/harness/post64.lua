-- wrk: the 64-byte POST of scenarios 1 and 2.
wrk.method = "POST"
wrk.body = string.rep("x", 64)
wrk.headers["Content-Type"] = "application/octet-stream"
