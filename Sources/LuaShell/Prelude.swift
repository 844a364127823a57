// The user-facing bindings, written in Lua over the __ct_* primitives of TaskBindings.swift and PoolBindings.swift,
// run in order as chunks named `prelude` (so errors and tracebacks can leave ctsh's own frames out): this file's
// base (primitives taken out of the globals, errors in Lua's shapes), pools (PreludePools.lua.swift), tasks
// (PreludeTasks.lua.swift), help (PreludeHelp.lua.swift), and the REPL's evaluator, printer and completion
// (PreludeRepl.lua.swift).
enum Prelude {
    static let chunks = [base, pools, tasks, help, repl]

    static let base = #"""
local prim = {}
for _, name in ipairs{"task_new", "resume", "task_add", "task_expect", "task_step", "task_finish",
                      "task_split", "task_abort", "sessions", "fleet", "foreground", "template", "launch",
                      "destroy_pool", "check_address", "options", "put", "get", "help_topics",
                      "describe_option", "complete_files", "known_addresses"} do
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

-- What the other chunks of the prelude share; the last one removes it from the globals.
__ct_internal = {prim = prim, typename = typename, call = call, argcheck = argcheck, user_traceback = user_traceback}
"""#
}
