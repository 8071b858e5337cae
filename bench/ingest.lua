-- wrk script for bench/ingest: POSTs one signed GitHub issue_comment webhook
-- with a unique X-GitHub-Delivery per request, and counts responses.
--
-- Settings come from the environment (set by bench/ingest):
--   BENCH_BODY  file holding the request body (sent byte for byte)
--   BENCH_SIG   X-Hub-Signature-256 value for that body ("sha256=<hex>")
--   BENCH_RUN   run tag, part of every delivery id: bench-<run>-<thread>-<n>
--
-- done() prints one line that bench/ingest parses:
--   BENCH_COUNTS sent=N completed=N ok=N non2xx=N accepted=N duplicate=N
--                connect=N read=N write=N timeout=N
-- sent: requests generated (written or about to be); completed: responses
-- received; ok: 2xx; accepted/duplicate: 2xx whose body says so (hookq only).

-- Globals (not locals) so the main state can read them with thread:get().
tid = 0
sent = 0
ok = 0
non2xx = 0
accepted = 0
duplicate = 0

local threads = {}
local nthreads = 0

function setup(thread)
   nthreads = nthreads + 1
   thread:set("tid", nthreads)
   table.insert(threads, thread)
end

local body, sig, run

function init(args)
   local path = assert(os.getenv("BENCH_BODY"), "BENCH_BODY not set")
   local f = assert(io.open(path, "rb"))
   body = f:read("*a")
   f:close()
   sig = assert(os.getenv("BENCH_SIG"), "BENCH_SIG not set")
   run = assert(os.getenv("BENCH_RUN"), "BENCH_RUN not set")
end

local headers = {
   ["Content-Type"] = "application/json",
   ["X-GitHub-Event"] = "issue_comment",
}

function request()
   sent = sent + 1
   headers["X-Hub-Signature-256"] = sig
   headers["X-GitHub-Delivery"] = "bench-" .. run .. "-" .. tid .. "-" .. sent
   return wrk.format("POST", nil, headers, body)
end

function response(status, hdrs, rbody)
   if status >= 200 and status < 300 then
      ok = ok + 1
      if rbody then
         if rbody:find('"status":"accepted"', 1, true) then
            accepted = accepted + 1
         elseif rbody:find('"status":"duplicate"', 1, true) then
            duplicate = duplicate + 1
         end
      end
   else
      non2xx = non2xx + 1
   end
end

function done(summary, latency, requests)
   local t = { sent = 0, ok = 0, non2xx = 0, accepted = 0, duplicate = 0 }
   for _, thread in ipairs(threads) do
      for k in pairs(t) do
         t[k] = t[k] + (thread:get(k) or 0)
      end
   end
   local e = summary.errors
   io.write(string.format(
      "BENCH_COUNTS sent=%d completed=%d ok=%d non2xx=%d accepted=%d duplicate=%d " ..
      "connect=%d read=%d write=%d timeout=%d\n",
      t.sent, summary.requests, t.ok, t.non2xx, t.accepted, t.duplicate,
      e.connect, e.read, e.write, e.timeout))
end
