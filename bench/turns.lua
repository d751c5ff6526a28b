-- wrk script for the turns benchmark (bench/README.md): POST /api/process-message in direct-stream
-- mode, a different user and message on every request, and only answers whose body holds the
-- closing `end` event counted as complete.
--   wrk -t2 -c50 -d8s -s bench/turns.lua http://127.0.0.1:8000 -- plain
-- The summary is printed as one line starting with WRKJSON.

local threads = {}

function setup(thread)
  thread:set("thread_number", #threads + 1)
  table.insert(threads, thread)
end

local questions = {
  "Which red wine goes with roast lamb?",
  "Do you have a dry white wine from Italy under 20 dollars?",
  "How long does delivery to Aarhus take?",
  "Can you recommend a fruity Portuguese red?",
  "What do you have from Sicily?",
  "Is shipping free above 500 kroner?",
  "I am looking for a Riesling for a birthday present",
  "What are your opening hours?",
}
local chatbot = "plain"
local sent = 0
complete = 0
incomplete = 0
failed_status = 0

function init(args)
  chatbot = args[1] or "plain"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "text/event-stream"
end

function request()
  sent = sent + 1
  local question = questions[(sent % #questions) + 1]
  local body = string.format(
    '{"user_id":"wrk-%d-%d","chatbot_id":"%s","message_text":"%s (%d.%d)"}',
    thread_number, sent, chatbot, question, thread_number, sent
  )
  return wrk.format("POST", "/api/process-message", nil, body)
end

function response(status, headers, body)
  if status ~= 200 then
    failed_status = failed_status + 1
  elseif string.find(body, "event: end", 1, true) then
    complete = complete + 1
  else
    incomplete = incomplete + 1
  end
end

function done(summary, latency, requests)
  local c, i, f = 0, 0, 0
  for _, thread in ipairs(threads) do
    c = c + thread:get("complete")
    i = i + thread:get("incomplete")
    f = f + thread:get("failed_status")
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"complete":%d,"incomplete":%d,"failed_status":%d,"duration_us":%d,'
      .. '"socket_errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"p50":%d,"p95":%d,"p99":%d,"mean":%.1f,"max":%d}}\n',
    summary.requests, c, i, f, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean, latency.max
  ))
end
