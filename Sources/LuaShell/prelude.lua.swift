// The user-facing bindings, written in Lua over the __ct_* primitives of Bindings.swift:
// workers, task, split, abort, resume, sessions, the pretty printer and the REPL's evaluator.
let prelude = #"""
local prim = {}
for _, name in ipairs{"task_new", "resume", "task_add", "task_expect", "task_step", "task_finish",
                      "task_split", "task_abort", "sessions", "fleet", "foreground", "template", "launch",
                      "destroy_pool", "check_address", "options"} do
  prim[name] = _G["__ct_" .. name]
  _G["__ct_" .. name] = nil
end

local function typename(v) return v == nil and "nil" or type(v) end

-- The binding each primitive serves, for its argument errors.
local binding_names = {task_new = "task", resume = "resume", task_add = "add", task_expect = "add", task_step = "run",
                       task_finish = "run", task_split = "split", task_abort = "abort", sessions = "sessions", fleet = "run",
                       template = "task", launch = "workers", destroy_pool = "destroy", check_address = "workers"}

-- Calls a primitive; its error is raised again at the binding's caller, without the prelude's position
-- and naming the binding, not the primitive.
local function call(level, f, ...)
  local results = table.pack(pcall(f, ...))
  if not results[1] then
    local message = tostring(results[2]):gsub("^prelude:%d+: ", ""):gsub("'__ct_([%w_]+)'", function(name)
      return "'" .. (binding_names[name] or name) .. "'"
    end)
    error(message, level + 1)
  end
  return table.unpack(results, 2, results.n)
end

-- Raises Lua's own argument error shape at the caller of the binding.
local function argcheck(fname, n, value, expected, level)
  if type(value) ~= expected then
    error(string.format("bad argument #%d to '%s' (%s expected, got %s)", n, fname, expected, typename(value)), (level or 2) + 1)
  end
end

-- A traceback without the frames of ctsh's own code, below the chunk that was run.
local function user_traceback(message)
  local traceback = debug.traceback(message, 2)
  local cut = traceback:find("\n\t%[C%]: in function 'xpcall'")
  traceback = cut and traceback:sub(1, cut - 1) or traceback
  return (traceback:gsub("\n\t%[C%]: in function 'error'(\n\tprelude:)", "%1"):gsub("\n\tprelude:[^\n]*", ""))
end

-- MARK: pools

local Pool = {__name = "pool"}
Pool.__index = Pool
Pool.__len = function(p) return #p.hosts end
Pool.__tostring = function(p) return string.format("pool(%d): %s", #p.hosts, table.concat(p.hosts, " ")) end

-- cloudtask's options by their field names, from its options table: {split = {type = "number", scope = "task"}, ...}.
local options = prim.options()
-- What a pool takes: how to reach its workers (scope "pool"), and with `launch`, the provider's settings.
local pool_options, provider_options = {launch = "number"}, {}
for field, option in pairs(options) do
  if option.scope == "pool" then pool_options[field] = option.type == "list" and "string" or option.type end
  if option.scope == "launch" then provider_options[field] = option.type end
end

function workers(spec)
  argcheck("workers", 1, spec, "table")
  local pool = setmetatable({hosts = {}, options = {}}, Pool)
  local settings = {}
  for i, address in ipairs(spec) do
    if type(address) ~= "string" then
      error(string.format("bad argument #1 to 'workers' (address %d: string expected, got %s)", i, typename(address)), 2)
    end
    local bad = prim.check_address(address)
    if bad then error(string.format("bad argument #1 to 'workers' (address %d: %s)", i, bad), 2) end
    pool.hosts[#pool.hosts + 1] = address
  end
  for key, value in pairs(spec) do
    if key == "file" then
      argcheck("workers", 1, value, "string")
      local file, err = io.open(value)
      if not file then error(string.format("bad argument #1 to 'workers' (file: %s)", err), 2) end
      local number = 0
      for line in file:lines() do
        number = number + 1
        local address = line:gsub("#.*", ""):match("^%s*(%S+)")
        local bad = address and prim.check_address(address)
        if bad then file:close(); error(string.format("%s:%d: %s", value, number, bad), 2) end
        if address then pool.hosts[#pool.hosts + 1] = address end
      end
      file:close()
    elseif type(key) == "string" then
      local expected = pool_options[key] or provider_options[key]
      if not expected then error(string.format("bad argument #1 to 'workers' (unknown field '%s')", key), 2) end
      if type(value) ~= expected then
        error(string.format("bad argument #1 to 'workers' (field '%s': %s expected, got %s)", key, expected, typename(value)), 2)
      end
      if provider_options[key] then settings[key] = value else pool.options[key] = value end
    end
  end
  if pool.options.launch then
    local count, provider = pool.options.launch, pool.options.provider or "local"
    pool.options.launch, pool.options.provider = nil, nil
    settings.user = pool.options.user   -- the login the provider sets up on its instances
    local id, hosts, key, known, policy, user = call(2, prim.launch, count, provider, settings)
    for _, host in ipairs(hosts) do pool.hosts[#pool.hosts + 1] = host end
    pool.launched, pool.options.known_hosts, pool.options.host_key_policy, pool.options.user = id, known, policy, user
    pool.options.identity = pool.options.identity or key   -- a given identity is what the image authorizes
  else
    local needs = pool.options.provider and "provider" or next(settings)
    if needs then error(string.format("bad argument #1 to 'workers' (field '%s' needs 'launch')", needs), 2) end
  end
  return pool
end

--- Destroys the workers this pool launched (also done when the shell exits). Returns true when all are gone.
function Pool:destroy()
  if not self.launched then return true end
  local left = prim.destroy_pool(self.launched)
  self.launched = nil
  self.hosts = {}
  return left == 0
end

local function pool_conf(pool)
  local conf = {workers = pool.hosts}
  for k, v in pairs(pool.options) do conf[k] = v end
  return conf
end

function Pool:add(address)
  argcheck("add", 1, address, "string")
  local bad = prim.check_address(address)
  if bad then error(string.format("bad argument #1 to 'add' (%s)", bad), 2) end
  self.hosts[#self.hosts + 1] = address
  return self
end

function Pool:remove(address)
  argcheck("remove", 1, address, "string")
  for i, host in ipairs(self.hosts) do
    if host == address then table.remove(self.hosts, i); return true end
  end
  return false
end

-- Results of pool:run, printed like clush -b: hosts with identical output grouped.
local RunResult = {__name = "run result"}
RunResult.__index = RunResult
RunResult.__tostring = function(r)
  local groups, order = {}, {}
  for _, host in ipairs(r.hosts) do
    local e = r[host]
    local text = e.error and ("error: " .. e.error) or (e.output .. e.stderr)
    if e.exit and e.exit ~= 0 then text = text .. "[exit " .. e.exit .. "]\n" end
    if e.signal then text = text .. "[signal " .. e.signal .. "]\n" end
    if not groups[text] then groups[text] = {}; order[#order + 1] = text end
    table.insert(groups[text], host)
  end
  local out = {}
  for _, text in ipairs(order) do
    local hosts = table.concat(groups[text], ",")
    out[#out + 1] = string.rep("-", 15) .. "\n" .. hosts .. " (" .. #groups[text] .. ")\n" .. string.rep("-", 15) .. "\n" .. text
  end
  return (table.concat(out):gsub("\n$", ""))
end

function Pool:run(command)
  argcheck("run", 1, command, "string")
  local result = setmetatable({hosts = {}}, RunResult)
  for _, e in ipairs(call(2, prim.fleet, pool_conf(self), command)) do
    result[e.host] = e
    result.hosts[#result.hosts + 1] = e.host
  end
  return result
end

function Pool:ping()
  local result = {}
  for _, e in ipairs(call(2, prim.fleet, pool_conf(self), ":")) do
    result[e.host] = {ok = e.exit == 0, latency = e.exit == 0 and e.seconds or nil, error = e.error}
  end
  return result
end

-- MARK: tasks

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

-- Steps every background task briefly (the REPL calls this while it waits for a key).
function __ct_idle()
  for t in pairs(background) do t:_step(0) end
end

-- MARK: printing

local function pretty(value, indent, seen)
  indent, seen = indent or "", seen or {}
  if type(value) == "string" then return string.format("%q", value) end
  local mt = getmetatable(value)
  if type(value) ~= "table" or (mt and mt.__tostring) then return tostring(value) end
  if seen[value] then return "<cycle: " .. tostring(value) .. ">" end
  seen[value] = true
  local keys = {}
  for k in pairs(value) do keys[#keys + 1] = k end
  if #keys == 0 then seen[value] = nil; return "{}" end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then return a < b end
    return type(a) < type(b)
  end)
  local lines, inner = {}, indent .. "  "
  for _, k in ipairs(keys) do
    local key = (type(k) == "string" and k:match("^[%a_][%w_]*$")) and k or ("[" .. pretty(k, inner, seen) .. "]")
    lines[#lines + 1] = inner .. key .. " = " .. pretty(value[k], inner, seen)
  end
  seen[value] = nil
  return "{\n" .. table.concat(lines, ",\n") .. "\n" .. indent .. "}"
end
__ct_pretty = pretty


-- The REPL's evaluator: an expression first, then a statement. Returns "incomplete" when more lines are
-- needed, unless `whole` (ctsh -e: the chunk is all there is). `name` names the chunk in messages.
function __ct_repl(source, name, whole)
  name = name or "=stdin"
  -- table.pack keeps the call out of tail position, so errors still name the chunk's line.
  local chunk, err = load("return table.pack(" .. source .. "\n)", name, "t")
  local packed = chunk ~= nil
  if not chunk then chunk, err = load(source, name, "t") end
  if not chunk then
    if err:find("<eof>$") and not whole then return "incomplete" end
    io.stderr:write(err, "\n")
    return "error"
  end
  local results = table.pack(xpcall(chunk, user_traceback))
  if not results[1] then
    io.stderr:write(tostring(results[2]), "\n")
    return "error"
  end
  if packed then results = table.pack(true, table.unpack(results[2], 1, results[2].n)) end
  if results.n > 1 then
    _ = results[2]
    local shown = {}
    for i = 2, results.n do shown[#shown + 1] = pretty(results[i]) end
    print(table.concat(shown, "\t"))
  end
  return "ok"
end

-- Completion candidates for `text`: globals, fields after `.`, methods after `:`.
function __ct_complete(text)
  if text:match("^%d*$") then   -- a number: the saved sessions' ids, for resume(
    local ids = {}
    for _, s in ipairs(prim.sessions()) do
      local id = tostring(s.id)
      if id:sub(1, #text) == text then ids[#ids + 1] = id end
    end
    return ids
  end
  local base, sep, prefix = text:match("^(.-)([%.:])([%w_]*)$")
  local scope = _G
  if base then
    scope = _G
    for part in base:gmatch("[^%.:]+") do
      scope = type(scope) == "table" and scope[part] or nil
    end
  else
    prefix, base, sep = text, "", ""
  end
  local found, seen = {}, {}
  local function collect(t)
    while type(t) == "table" and not seen[t] do
      seen[t] = true
      for k, v in pairs(t) do
        if type(k) == "string" and k:sub(1, #prefix) == prefix and k:sub(1, 2) ~= "__" and (sep ~= ":" or type(v) == "function") then
          found[#found + 1] = base .. sep .. k
        end
      end
      local mt = getmetatable(t)
      t = mt and type(mt.__index) == "table" and mt.__index or nil
    end
  end
  collect(scope)
  table.sort(found)
  return found
end
"""#
