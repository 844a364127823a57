// The prelude's REPL side: the pretty printer, the evaluator (an expression first, then a statement), completion.
extension Prelude {
    static let repl = #"""
local ct = __ct_internal
local prim, user_traceback, ct_pool, ct_options = ct.prim, ct.user_traceback, ct.Pool, ct.options
__ct_internal = nil

-- 12345678 as "12 345 678", for the counts of what was left out.
local function grouped(n)
  local text = tostring(n)
  repeat
    local count
    text, count = text:gsub("^(%d+)(%d%d%d)", "%1 %2")
  until count == 0
  return text
end

local function limit(name)
  local n = tonumber(type(ctsh) == "table" and ctsh[name])
  return (n and n > 0) and n or math.huge
end

-- The keys of `t` in printing order: 1..#t first, then the others sorted (when there are not too many to sort).
local function ordered_keys(t)
  local keys, n = {}, #t
  for i = 1, n do keys[i] = i end
  local rest = {}
  for k in pairs(t) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then rest[#rest + 1] = k end
  end
  if #rest <= 10000 then
    table.sort(rest, function(a, b)
      if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then return a < b end
      return type(a) < type(b)
    end)
  end
  table.move(rest, 1, #rest, n + 1, keys)
  return keys
end

-- The REPL's view of a value: nested tables indented, at most ctsh.print_depth levels, ctsh.print_items entries
-- a table and ctsh.print_limit lines in all, what is left out counted; __tostring honoured, cycles shown once.
local function pretty(value)
  local lines, budget = {}, limit("print_limit")
  local items, depth = limit("print_items"), limit("print_depth")
  local cut = false
  local seen = {}
  -- Appends `text` to the current line, or starts a new one; each of its own newlines starts one too (a
  -- __tostring may give several lines). False once the line budget is spent.
  local function emit(text, newline)
    for piece in (text .. "\n"):gmatch("(.-)\n") do
      if newline then
        if #lines >= budget then cut = true; return false end
        lines[#lines + 1] = piece
      else
        lines[#lines] = lines[#lines] .. piece
      end
      newline = true
    end
    return true
  end
  local function scalar(v)
    if type(v) == "string" then return (string.format("%q", v):gsub("\\\n", "\\n")) end
    return tostring(v)
  end
  local function show(v, indent, level)
    local mt = getmetatable(v)
    if type(v) ~= "table" or (mt and mt.__tostring) then return emit(scalar(v)) end
    if seen[v] then return emit("<cycle: " .. tostring(v) .. ">") end
    if next(v) == nil then return emit("{}") end
    local keys = ordered_keys(v)
    if level >= depth then return emit("{...} (" .. grouped(#keys) .. (#keys == 1 and " entry)" or " entries)")) end
    seen[v] = true
    emit("{")
    local inner = indent .. "  "
    for i, k in ipairs(keys) do
      if i > items then
        emit(",")
        emit(inner .. "... (" .. grouped(#keys - items) .. " more)", true)
        break
      end
      local key = (type(k) == "string" and k:match("^[%a_][%w_]*$")) and k or ("[" .. scalar(k) .. "]")
      if i > 1 then emit(",") end
      if not emit(inner .. key .. " = ", true) then break end
      show(v[k], inner, level + 1)
      if cut then break end
    end
    seen[v] = nil
    if not cut then emit(indent .. "}", true) end
    return not cut
  end
  emit("", true)
  show(value, "", 0)
  if cut then
    lines[#lines] = "... (cut at " .. grouped(budget) .. " lines: ctsh.print_limit)"
  end
  return table.concat(lines, "\n")
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

-- Where the cursor is in `line` (the text before it): inside a string (its opening quote's position), in a
-- comment, and the brackets still open, innermost last, each with its position.
local function scan(line)
  local open, i, quote, opened = {}, 1, nil, nil
  while i <= #line do
    local c = line:sub(i, i)
    if quote then
      if c == "\\" then i = i + 1 elseif c == quote then quote = nil end
    elseif c == '"' or c == "'" then
      quote, opened = c, i
    elseif line:sub(i, i + 1) == "--" then
      return {comment = true, open = open}
    elseif c == "{" or c == "(" or c == "[" then
      open[#open + 1] = i
    elseif c == "}" or c == ")" or c == "]" then
      open[#open] = nil
    end
    i = i + 1
  end
  return {string = quote and opened, open = open}
end

-- The candidates among `words` that start with `prefix`, sorted.
local function starting(words, prefix)
  local found = {}
  for _, word in ipairs(words) do
    if word:sub(1, #prefix) == prefix then found[#found + 1] = word end
  end
  table.sort(found)
  return found
end

-- The call a table constructor opened at `at` belongs to: "task", "workers", "resume", "hosts" (a list of
-- workers: `workers = {`), or nil.
local function constructor(line, at)
  local before = line:sub(1, at - 1)
  if before:match("task%s*$") or before:match("task%s*%(%s*$") then return "task" end
  if before:match("workers%s*$") or before:match("workers%s*%(%s*$") then return "workers" end
  if before:match("resume%s*%(%s*%d+%s*,%s*$") then return "resume" end
  if before:match("workers%s*=%s*$") or before:match("jump%s*=%s*$") then return "hosts" end
end

-- The fields a constructor takes: cloudtask's options by scope, and the call's own.
local function fields(kind)
  local words = {}
  for field, option in pairs(ct_options) do
    if kind ~= "workers" or option.scope ~= "task" then words[#words + 1] = field end
  end
  local own = kind == "workers" and {"file", "launch"} or kind == "task" and {"command", "jobs", "on_result"}
    or {"retry", "on_result"}
  table.move(own, 1, #own, #words + 1, words)
  return words
end

-- What completes a string being typed (libedit's own quoting then applies, and closes no quote): worker addresses where a host is expected (in workers{...}'s list,
-- after `workers =` or `jump =`, in pool:add/remove), else file names.
local function in_string(text, line, state)
  local before = line:sub(1, state.string - 1)   -- the line before the opening quote
  local innermost = state.open[#state.open]
  local kind = innermost and line:sub(innermost, innermost) == "{" and constructor(line, innermost)
  local field = before:match("([%a_][%w_]*)%s*=%s*$")
  local item = kind and before:match("[{,]%s*$")
  local receiver, method = before:match("([%a_][%w_]*):(%a+)%s*%(%s*$")
  local hosts = (item and (kind == "workers" or kind == "hosts")) or field == "workers" or field == "jump"
    or (receiver and (method == "add" or method == "remove") and getmetatable(rawget(_G, receiver)) == ct_pool)
  if not hosts then return prim.complete_files(text) end
  local found = starting(prim.known_addresses(), text)
  if field == "workers" then   -- a task's workers may also be a workers file
    for _, file in ipairs(prim.complete_files(text)) do found[#found + 1] = file end
  end
  return found
end

-- Completion candidates for `text`, the word before the cursor, and whether they complete a string (then no
-- space follows). `line` is the input before the cursor (text included): inside a string, file names or
-- worker addresses; inside task{...}, workers{...} or resume(ID, {...}), field names; after resume(, session
-- ids; else globals, fields after `.` and methods after `:`.
function __ct_complete(text, line)
  line = line or text
  local state = scan(line)
  if state.comment then return {}, false end
  if state.string then return in_string(text, line, state), true end
  local before = line:sub(1, #line - #text)
  if text:match("^%d*$") then   -- a number: the saved sessions' ids, for resume(
    if not before:match("resume%s*%(%s*$") then return {}, false end
    local ids = {}
    for _, s in ipairs(prim.sessions()) do
      local id = tostring(s.id)
      if id:sub(1, #text) == text then ids[#ids + 1] = id end
    end
    return ids, false
  end
  local innermost = state.open[#state.open]
  local kind = innermost and line:sub(innermost, innermost) == "{" and constructor(line, innermost)
  if kind and kind ~= "hosts" and text:match("^[%a_][%w_]*$") and before:match("[{,]%s*$") then
    local found = starting(fields(kind), text)
    if #found > 0 then return found, false end
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
        if type(k) == "string" and k:sub(1, #prefix) == prefix and k:sub(1, 2) ~= "__"
           and (sep ~= ":" or (type(v) == "function" and k:sub(1, 1) ~= "_")) then
          found[#found + 1] = base .. sep .. k
        end
      end
      local mt = getmetatable(t)
      t = mt and type(mt.__index) == "table" and mt.__index or nil
    end
  end
  collect(scope)
  table.sort(found)
  return found, false
end
"""#
}
