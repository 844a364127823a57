#!/usr/bin/env ctsh
-- A script that generates its jobs and reacts to their outcomes:
--   ./sweep.lua HOST [HOST...]
-- runs a parameter sweep (a generator: inputs are produced lazily, each journaled before it runs),
-- re-adds each failed point once with a finer step, and prints a table of the results.
local hosts = {...}
if #hosts == 0 then io.stderr:write("usage: sweep.lua HOST [HOST...]\n") os.exit(2) end

local pool = workers(hosts)
local results, retried = {}, {}
local t
t = task{
  command = "sh -c 'x=$0; [ $((x % 7)) -ne 0 ] && echo $((x * x))'",
  workers = pool,
  slots = 2,
  jobs = coroutine.wrap(function()
    for x = 1, 30 do coroutine.yield(x) end
  end),
  on_result = function(job)
    if job.status == "ok" then
      results[tonumber(job.input)] = tonumber(job.output)
    elseif not retried[job.input] then
      retried[job.input] = true
      t:add(tonumber(job.input) + 100)   -- a replacement point, far from the bad one
    end
  end,
}
local summary = t:run()
local points = {}
for x in pairs(results) do points[#points + 1] = x end
table.sort(points)
for _, x in ipairs(points) do print(x, results[x]) end
print(string.format("session %d: %d ok, %d failed", summary.session, summary.ok, summary.failed))
os.exit(summary.exit)
