// The prelude's help: help() lists the bindings, help(x) explains a binding, method, value, Lua library function or
// option. Topics and library lines come from HelpTopics.swift, options' texts from the options table.
extension Prelude {
    static let help = #"""
local ct = __ct_internal
local prim, Pool, Task = ct.prim, ct.Pool, ct.Task

local topics, library, libraries = prim.help_topics()
local by_name = {}
for _, topic in ipairs(topics) do by_name[topic.name] = topic end

-- `text` broken into lines of at most `width` characters, each after `indent`.
local function wrap(text, indent, width)
  local lines, line = {}, ""
  for word in text:gmatch("%S+") do
    if #line > 0 and #indent + #line + 1 + #word > width then lines[#lines + 1] = indent .. line; line = "" end
    line = #line > 0 and (line .. " " .. word) or word
  end
  if #line > 0 then lines[#lines + 1] = indent .. line end
  return table.concat(lines, "\n")
end

local function topic_text(topic)
  local out = {topic.signature, wrap(topic.summary .. ".", "  ", 100), "", wrap(topic.details, "  ", 100), "", "  Example:"}
  for _, line in ipairs(topic.example) do out[#out + 1] = "    " .. line end
  if prim.describe_option(topic.name) then out[#out + 1] = "\n  Also an option: help\"--" .. topic.name .. "\"." end
  return table.concat(out, "\n")
end

-- The value a dotted library name stands for (`string.format`, `print`), or nil.
local function lookup(name)
  local value = _G
  for part in name:gmatch("[^%.]+") do
    if type(value) ~= "table" then return nil end
    value = rawget(value, part)
  end
  return value
end

-- The name each binding, method and library function is known by, for help(VALUE).
local names = {}
local function name_methods(class, prefix)
  local keys = {}
  for k, v in pairs(class) do
    if type(v) == "function" and type(k) == "string" and not k:match("^_") then keys[#keys + 1] = k end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do names[class[k]] = names[class[k]] or prefix .. k end
end
for _, topic in ipairs(topics) do
  local value = not topic.name:find("[:]") and lookup(topic.name)
  if type(value) == "function" then names[value] = topic.name end
end
name_methods(Pool, "pool:")
name_methods(Task, "t:")
local library_names = {}
for name in pairs(library) do library_names[#library_names + 1] = name end
table.sort(library_names)
for _, name in ipairs(library_names) do
  local value = lookup(name)
  if type(value) == "function" and not names[value] then names[value] = name end
end

-- A method's lines (`pool:`, `t:`), as help(VALUE) of a pool or task lists them.
local function methods(prefix)
  local out = {}
  for _, topic in ipairs(topics) do
    if topic.name:sub(1, #prefix) == prefix then
      out[#out + 1] = string.format("  %-16s %s", topic.name, topic.summary)
    end
  end
  return table.concat(out, "\n")
end

local function listing()
  local out = {"ctsh bindings (help(NAME) or help\"NAME\" for one; help\"--OPTION\" for cloudtask's options):"}
  for _, topic in ipairs(topics) do out[#out + 1] = string.format("  %-16s %s", topic.name, topic.summary) end
  out[#out + 1] = "Lua's standard library: help(string.format), help(string) lists one; _ holds the last result."
  return table.concat(out, "\n")
end

-- A library table's functions, one line each.
local function library_text(name)
  local keys, out = {}, {name .. ": Lua's " .. name .. " library"}
  for key in pairs(lookup(name)) do keys[#keys + 1] = key end
  table.sort(keys)
  for _, key in ipairs(keys) do
    out[#out + 1] = "  " .. (library[name .. "." .. key] or (name .. "." .. key))
  end
  return table.concat(out, "\n")
end

local function option_text(name)
  local text = prim.describe_option(name)
  return text and text:gsub("\n", "\n  ") or string.format("no option '%s' (cloudtask --help lists them)", name)
end

-- The help for a name: a topic, a method by any receiver (p:run, task.add), a library function or table, an option.
local function named(name)
  name = name:match("^%s*(.-)%s*$")
  if name == "" then return listing() end
  local option = name:match("^%-%-?(.+)$") or name:match("^option%s+(.+)$")
  if option then return option_text(option) end
  if by_name[name] then return topic_text(by_name[name]) end
  local receiver, method = name:match("^([%w_]+)[:.]([%w_]+)$")
  if method and not library[name] then
    for _, prefix in ipairs{"pool:", "t:"} do
      if by_name[prefix .. method] and (rawget(Pool, method) or rawget(Task, method)) then
        local value = lookup(receiver)
        local class = prefix == "pool:" and Pool or Task
        if value == nil or getmetatable(value) == class or receiver == "pool" or receiver == "task" or receiver == "t" then
          if rawget(class, method) then return topic_text(by_name[prefix .. method]) end
        end
      end
    end
  end
  if library[name] then return library[name] end
  for _, lib in ipairs(libraries) do if name == lib then return library_text(lib) end end
  if prim.describe_option(name) then return option_text(name) end
  return string.format("no help for '%s': help() lists the bindings", name)
end

local Help = {__name = "help"}
Help.__tostring = function() return "help: type help() for the bindings, help(NAME) for one" end

-- The help for a value: what it is, and for a binding, method or library function, its help.
local function valued(value)
  if getmetatable(value) == Help then return topic_text(by_name.help) end
  if type(value) == "function" then
    local name = names[value]
    if name then return by_name[name] and topic_text(by_name[name]) or library[name] end
    local info = debug.getinfo(value, "S")
    if info.what == "C" then return "a C function without help" end
    return string.format("a Lua function defined at %s:%d", info.short_src, info.linedefined)
  end
  local mt = getmetatable(value)
  if mt == Pool then
    return tostring(value) .. "\n  A pool of workers (workers{...}); #pool counts them. Its methods:\n" .. methods("pool:")
  elseif mt == Task then
    return tostring(value) .. "\n  A task (task{...} or resume); t.session is its session id. Its methods:\n"
      .. methods("t:") .. "\n  split(t, N) and abort(t) act on it too."
  elseif value == ctsh then
    return topic_text(by_name.ctsh)
  elseif type(value) == "table" then
    for _, lib in ipairs(libraries) do if value == _G[lib] then return library_text(lib) end end
    if value == http then return topic_text(by_name["http.request"]) end
    if value == _G then return library._G end
    local count = 0
    for _ in pairs(value) do count = count + 1 end
    return string.format("a table with %d entries (#t = %d); type it at the prompt to see them", count, #value)
  elseif type(value) == "nil" then
    return "nil: no value (a name not defined?); help() lists the bindings, help\"NAME\" finds one by name"
  end
  if io.type(value) then return "a file: " .. tostring(value) .. "; file:read, file:write, file:lines, file:seek, file:close" end
  return string.format("a %s: %s", type(value), tostring(value))
end

-- Returns the text help(...) prints (also for tests: help.text(x)).
local function text(...)
  if select("#", ...) == 0 then return listing() end
  local value = ...
  if type(value) == "string" then return named(value) end
  return valued(value)
end

help = setmetatable({text = text}, Help)
Help.__call = function(_, ...) print(text(...)) end
ctsh = {print_limit = 100, print_items = 30, print_depth = 5}
"""#
}
