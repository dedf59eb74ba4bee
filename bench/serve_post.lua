-- wrk script for bench/serve_bench.sh: POST the image $IMAGE to /api/predict.
local file = assert(io.open(os.getenv("IMAGE"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*all")
wrk.headers["Content-Type"] = "image/jpeg"
file:close()
