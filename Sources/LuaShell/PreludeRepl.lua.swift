// The prelude's REPL side: the pretty printer, the evaluator (an expression first, then a statement), completion.
extension Prelude {
    static let repl = #"""
local ct = __ct_internal
local prim, user_traceback = ct.prim, ct.user_traceback
__ct_internal = nil

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
}
