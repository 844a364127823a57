// The prelude's pools: workers{...} (given or launched), pool:add/remove/destroy, pool:run and pool:ping,
// pool:put and pool:get.
extension Prelude {
    static let pools = #"""
local ct = __ct_internal
local prim, typename, call, argcheck = ct.prim, ct.typename, ct.call, ct.argcheck

local Pool = {__name = "pool"}
Pool.__index = Pool
Pool.__len = function(p) return #p.hosts end
Pool.__tostring = function(p) return string.format("pool(%d): %s", #p.hosts, table.concat(p.hosts, " ")) end

-- cloudtask's options by their field names, from its options table: {split = {type = "number", scope = "task"}, ...}.
local options = prim.options()
-- What a pool takes: how to reach its workers (scope "pool"), and with `launch`, the provider's settings.
local pool_options, provider_options = {launch = "number"}, {}
for field, option in pairs(options) do
  if option.scope == "pool" then pool_options[field] = option.type end
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
    local hosts, bad = prim.check_address(address)   -- a range or @group: several hosts
    if bad then error(string.format("bad argument #1 to 'workers' (address %d: %s)", i, bad), 2) end
    table.move(hosts, 1, #hosts, #pool.hosts + 1, pool.hosts)
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
        if address then
          local hosts, bad = prim.check_address(address)
          if bad then file:close(); error(string.format("%s:%d: %s", value, number, bad), 2) end
          table.move(hosts, 1, #hosts, #pool.hosts + 1, pool.hosts)
        end
      end
      file:close()
    elseif type(key) == "string" then
      local expected = pool_options[key] or provider_options[key]
      if not expected then error(string.format("bad argument #1 to 'workers' (unknown field '%s')", key), 2) end
      if expected == "list" then   -- a table of strings, or one string
        if type(value) == "string" then value = {value} end
        expected = "table"
        for i, item in ipairs(type(value) == "table" and value or {}) do
          if type(item) ~= "string" then
            error(string.format("bad argument #1 to 'workers' (field '%s' item %d: string expected, got %s)", key, i, typename(item)), 2)
          end
        end
      end
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
  local hosts, bad = prim.check_address(address)
  if bad then error(string.format("bad argument #1 to 'add' (%s)", bad), 2) end
  table.move(hosts, 1, #hosts, #self.hosts + 1, self.hosts)
  return self
end

--- Removes the address (each host of a range or @group); true when one was in the pool.
function Pool:remove(address)
  argcheck("remove", 1, address, "string")
  local removed = false
  for _, each in ipairs(prim.check_address(address) or {address}) do
    for i, host in ipairs(self.hosts) do
      if host == each then table.remove(self.hosts, i); removed = true; break end
    end
  end
  return removed
end

-- Per-host results printed like clush -b: hosts whose text(entry) is the same grouped under one header.
local function grouped(r, text)
  local groups, order = {}, {}
  for _, host in ipairs(r.hosts) do
    local t = text(r[host])
    if not groups[t] then groups[t] = {}; order[#order + 1] = t end
    table.insert(groups[t], host)
  end
  local out = {}
  for _, t in ipairs(order) do
    local hosts = table.concat(groups[t], ",")
    out[#out + 1] = string.rep("-", 15) .. "\n" .. hosts .. " (" .. #groups[t] .. ")\n" .. string.rep("-", 15) .. "\n" .. t
  end
  return (table.concat(out):gsub("\n$", ""))
end

-- A results table of the entries a fleet primitive returns, by host and in order (hosts = {...}).
local function by_host(entries, mt)
  local result = setmetatable({hosts = {}}, mt)
  for _, e in ipairs(entries) do
    result[e.host] = e
    result.hosts[#result.hosts + 1] = e.host
  end
  return result
end

-- Results of pool:run: hosts with identical output grouped.
local RunResult = {__name = "run result"}
RunResult.__index = RunResult
RunResult.__tostring = function(r)
  return grouped(r, function(e)
    local text = e.error and ("error: " .. e.error) or (e.output .. e.stderr)
    if e.exit and e.exit ~= 0 then text = text .. "[exit " .. e.exit .. "]\n" end
    if e.signal then text = text .. "[signal " .. e.signal .. "]\n" end
    return text
  end)
end

function Pool:run(command)
  argcheck("run", 1, command, "string")
  return by_host(call(2, prim.fleet, pool_conf(self), command), RunResult)
end

-- Results of pool:put and pool:get: hosts that copied the same grouped ("2 files, 1.5 kB (sftp)", "error: ...").
local CopyResult = {__name = "copy result"}
CopyResult.__index = CopyResult
CopyResult.__tostring = function(r)
  return grouped(r, function(e) return e.summary .. "\n" end)
end

local function copy(name, f, pool, first, second)
  argcheck(name, 1, first, "string", 3)
  argcheck(name, 2, second, "string", 3)
  for n, path in ipairs{first, second} do
    if path == "" then error(string.format("bad argument #%d to '%s' (empty path)", n, name), 3) end
  end
  return by_host(call(3, f, pool_conf(pool), first, second), CopyResult)
end

--- Copies `from` (a file, or a folder with everything under it) to the path `to` on every worker; `to` ending
--- in "/" is the folder it goes into. Modes and modification times are kept.
function Pool:put(from, to)
  local result = copy("put", prim.put, self, from, to)   -- not a tail call: errors name the caller's line
  return result
end

--- Copies `from` from every worker into `dir`/<worker>/, each worker's folder its address made safe for a path.
function Pool:get(from, dir)
  local result = copy("get", prim.get, self, from, dir)
  return result
end

function Pool:ping()
  local result = {}
  for _, e in ipairs(call(2, prim.fleet, pool_conf(self), ":")) do
    result[e.host] = {ok = e.exit == 0, latency = e.exit == 0 and e.seconds or nil, error = e.error}
  end
  return result
end

ct.Pool, ct.options = Pool, options
"""#
}
