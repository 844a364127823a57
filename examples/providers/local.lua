-- A provider written in Lua: launches private sshd workers on loopback, like the built-in `local`.
-- Use it with `cloudtask --provider=examples/providers/local.lua --split=2 ...` or as a model for a
-- cloud of your own (ctsh's `http.request{...}` speaks to any HTTP API).
-- launch(count, ctx) returns instances {id, host, port, user}; it calls ctx.record(instance) before
-- creating each one, so the session's ledger names it even if the controller dies right then.
-- destroy(instances, ctx) returns a table {id = "why"} of the ones it could not destroy; list(ctx), optional,
-- the instances of the session still alive.
local provider = {}

local function sh(command)
  local ok = os.execute(command)
  if not ok then error("command failed: " .. command, 0) end
end

local function dir_of(ctx, id) return ctx.session .. "/lua-local/" .. id end

function provider.launch(count, ctx)
  local instances = {}
  sh("mkdir -p '" .. ctx.session .. "/lua-local' /run/sshd")
  for n = 1, count do
    local id = string.format("lua-%d-%d", os.time(), n)
    local host = "127.0.1." .. (200 + n)
    local instance = {id = id, host = host, port = ctx.free_port(host), user = os.getenv("USER") or "root"}
    ctx.record(instance)
    local dir = dir_of(ctx, id)
    sh("mkdir -p '" .. dir .. "' && ssh-keygen -q -t ed25519 -N '' -f '" .. dir .. "/host_key'")
    local keys = assert(io.open(dir .. "/authorized_keys", "w"))
    keys:write(ctx.public_key, "\n")
    keys:close()
    local config = assert(io.open(dir .. "/sshd_config", "w"))
    config:write(table.concat({
      "ListenAddress " .. host .. ":" .. instance.port,
      "HostKey " .. dir .. "/host_key",
      "PidFile " .. dir .. "/sshd.pid",
      "AuthorizedKeysFile " .. dir .. "/authorized_keys",
      "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
      "PermitRootLogin prohibit-password", "MaxSessions 100", "LogLevel ERROR", ""}, "\n"))
    config:close()
    sh("/usr/sbin/sshd -f '" .. dir .. "/sshd_config' -E '" .. dir .. "/sshd.log'")
    instances[#instances + 1] = instance
  end
  return instances
end

function provider.destroy(instances, ctx)
  local failed = {}
  for _, instance in ipairs(instances) do
    local pidfile = io.open(dir_of(ctx, instance.id) .. "/sshd.pid")
    if pidfile then
      local pid = pidfile:read("n")
      pidfile:close()
      if pid and not os.execute("kill " .. pid .. " 2>/dev/null; sleep 0.1; ! kill -0 " .. pid .. " 2>/dev/null || "
                                .. "grep -q '^State:.*Z' /proc/" .. pid .. "/status") then
        failed[instance.id] = "sshd " .. pid .. " still running"
      end
    end
  end
  return failed
end

-- list(ctx) returns the instances of this session still alive, whatever the ledger says (optional:
-- cloudtask-destroy-workers and --resume use it to find instances whose ledger entry was lost).
function provider.list(ctx)
  local found = {}
  local ls = io.popen("ls '" .. ctx.session .. "/lua-local' 2>/dev/null")
  for id in ls:lines() do
    local dir = dir_of(ctx, id)
    local pidfile, config = io.open(dir .. "/sshd.pid"), io.open(dir .. "/sshd_config")
    local pid = pidfile and pidfile:read("n")
    local host, port = (config and config:read("a") or ""):match("ListenAddress ([%d.]+):(%d+)")
    if pidfile then pidfile:close() end
    if config then config:close() end
    if pid and host and os.execute("kill -0 " .. pid .. " 2>/dev/null") then
      found[#found + 1] = {id = id, host = host, port = tonumber(port)}
    end
  end
  ls:close()
  return found
end

return provider
