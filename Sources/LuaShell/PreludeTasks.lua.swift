// The prelude's tasks: task{...}, its jobs (lists, generators), run/start/wait, split, abort, resume, sessions,
// scripts and task templates.
extension Prelude {
    static let tasks = #"""
local ct = __ct_internal
local prim, typename, call, argcheck, user_traceback = ct.prim, ct.typename, ct.call, ct.argcheck, ct.user_traceback
local Pool, options = ct.Pool, ct.options

local Task = {__name = "task"}
Task.__index = Task
Task.__tostring = function(t)
  return string.format("task(session %d, %s)", t.session, t.summary and "finished" or (t.running and "running" or "not started"))
end

local background = {}
-- A task's own fields, and every option of the options table by its field name.
local task_fields = {command = true, jobs = true, on_result = true}
for field in pairs(options) do task_fields[field] = true end

-- The plain options of a task description, for the engine: a pool's hosts and options merged in.
local function task_conf(spec)
  local conf = {}
  for key, value in pairs(spec) do
    if key ~= "jobs" and key ~= "on_result" and key ~= "workers" then conf[key] = value end
  end
  local w = spec.workers
  if getmetatable(w) == Pool then
    conf.workers = w.hosts
    for k, v in pairs(w.options) do if conf[k] == nil then conf[k] = v end end
  else
    conf.workers = w
  end
  return conf
end

function task(spec)
  argcheck("task", 1, spec, "table")
  for key in pairs(spec) do
    if not task_fields[key] then error(string.format("bad argument #1 to 'task' (unknown field '%s')", tostring(key)), 2) end
  end
  if spec.on_result ~= nil and type(spec.on_result) ~= "function" then
    error("bad argument #1 to 'task' (field 'on_result': function expected, got " .. typename(spec.on_result) .. ")", 2)
  end
  local w = spec.workers
  if w ~= nil and getmetatable(w) ~= Pool and type(w) ~= "table" and type(w) ~= "string" then
    error("bad argument #1 to 'task' (field 'workers': pool expected, got " .. typename(w) .. ")", 2)
  end
  local conf = task_conf(spec)
  local jobs = spec.jobs
  if jobs ~= nil and type(jobs) ~= "table" and type(jobs) ~= "function" and type(jobs) ~= "thread" then
    error("bad argument #1 to 'task' (field 'jobs': table, function or coroutine expected, got " .. typename(jobs) .. ")", 2)
  end
  local handle, session = call(2, prim.task_new, conf)
  local t = setmetatable({handle = handle, session = session, on_result = spec.on_result, ahead = 256}, Task)
  return t:_jobs(jobs)
end

function Task:_jobs(jobs)
  if type(jobs) == "table" then
    for _, input in ipairs(jobs) do call(3, prim.task_add, self.handle, tostring(input)) end
  elseif type(jobs) == "function" then
    self.gen = jobs
    prim.task_expect(self.handle, true)
  elseif type(jobs) == "thread" then
    self.gen = function()
      local ok, value = coroutine.resume(jobs)
      if not ok then error(value, 0) end
      return value
    end
    prim.task_expect(self.handle, true)
  end
  return self
end

--- Adds jobs to a task, also while it runs (from on_result, say). Returns the new job numbers.
function Task:add(...)
  local numbers = {}
  for i = 1, select("#", ...) do
    local input = select(i, ...)
    if type(input) ~= "string" and type(input) ~= "number" then argcheck("add", i, input, "string") end
    numbers[#numbers + 1] = call(2, prim.task_add, self.handle, tostring(input))
  end
  return table.unpack(numbers)
end

-- Pulls inputs from the generator until enough are queued; each is journaled before dispatch.
local function pump(t, queued)
  while t.gen and queued < t.ahead do
    local input = t.gen()
    if input == nil then
      t.gen = nil
      prim.task_expect(t.handle, false)
    else
      call(1, prim.task_add, t.handle, tostring(input))
      queued = queued + 1
    end
  end
end

--- One turn of the engine; delivers results to on_result. Returns false once the task is over.
function Task:_step(timeout, foreground)
  if self.summary then return false end
  pump(self, self.queued or 0)
  local running, results, queued = prim.task_step(self.handle, timeout or 1, foreground)
  self.running, self.queued = running, queued
  for _, job in ipairs(results) do
    self.done = (self.done or 0) + (job.final and 1 or 0)
    if self.on_result then
      local ok, err = xpcall(self.on_result, user_traceback, job)
      if not ok then io.stderr:write("on_result: ", tostring(err), "\n") end
    end
  end
  if not running and not self.gen then
    self.summary = prim.task_finish(self.handle)
    background[self] = nil
    return false
  end
  return true
end

--- Runs the task to its end (Ctrl-C aborts it, as abort(t)) and returns its summary.
function Task:run()
  prim.foreground(true)   -- Ctrl-C now aborts the task (saved, workers cleaned up) instead of this loop
  local ok, err = pcall(function() while self:_step(1, true) do end end)
  prim.foreground(false)
  if not ok then error(err, 0) end
  return self.summary
end

--- Runs the task in the background: the prompt stays usable, results arrive while it waits.
function Task:start()
  background[self] = true
  self:_step(0)
  return self
end

--- Waits for a started task and returns its summary.
Task.wait = Task.run

function Task:status()
  return {session = self.session, running = self.running and not self.summary, done = self.done or 0,
          queued = self.queued or 0, split = prim.task_split(self.handle), summary = self.summary}
end

function split(t, n)
  if getmetatable(t) ~= Task then argcheck("split", 1, t, "task") end
  if n ~= nil then argcheck("split", 2, n, "number") end
  if n == nil then return prim.task_split(t.handle) end
  return call(2, prim.task_split, t.handle, n)
end

function abort(t)
  if getmetatable(t) ~= Task then argcheck("abort", 1, t, "task") end
  prim.task_abort(t.handle)
  return t:run()
end

function resume(id, options)
  argcheck("resume", 1, id, "number")
  if options ~= nil then argcheck("resume", 2, options, "table") end
  local conf = {}
  for k, v in pairs(options or {}) do
    if k == "workers" and getmetatable(v) == Pool then conf.workers = v.hosts else conf[k] = v end
  end
  local handle, session, pending, note = call(2, prim.resume, id, conf)
  if note ~= "" then io.stderr:write("resume: session ", id, ": ", note, "\n") end
  local t = setmetatable({handle = handle, session = session, ahead = 256, queued = pending}, Task)
  t.on_result = options and options.on_result
  return t
end

function sessions() return prim.sessions() end

-- Runs a script file; one whose main chunk returns a plain table is a task template. Returns the exit status.
function __ct_script(path)
  local chunk, err = loadfile(path ~= "-" and path or nil)   -- "-": stdin, as lua reads it
  if not chunk then error(err, 0) end
  local result = chunk(table.unpack(arg, 1, #arg))
  if type(result) == "table" and getmetatable(result) == nil then return __ct_template(result, path) end
  return 0
end

-- Runs the startup file (ctshrc.lua) as a plain script: what it returns is ignored, its errors are raised.
function __ct_startup(path)
  local chunk, err = loadfile(path)
  if not chunk then error(err, 0) end
  chunk()
end

-- A task template: cloudtask's options from the script's arguments, job lines from stdin, cloudtask's exit codes.
function __ct_template(template, path)
  for key in pairs(template) do
    if not task_fields[key] then error(string.format("%s: task template has unknown field '%s'", path, tostring(key)), 0) end
  end
  local conf = task_conf(template)
  local args = {}
  for i = 1, #arg do args[i] = arg[i] end
  local handle, session, code = prim.template(conf, args)
  if not handle then
    if session ~= "" then io.stderr:write(path:match("[^/]*$"), ": ", session, "\n") end
    return code
  end
  local t = setmetatable({handle = handle, session = session, on_result = template.on_result, ahead = 256}, Task)
  return t:run().exit
end

ct.Task = Task

-- Steps every background task briefly (the REPL calls this while it waits for a key).
function __ct_idle()
  for t in pairs(background) do t:_step(0) end
end
"""#
}
