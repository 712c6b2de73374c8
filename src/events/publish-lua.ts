/**
 * The Lua half of the event log: what every recording script does with an event it recorded, in
 * the same script as the state change and the timeline append — so the event stream and the
 * statistics counters can never drift from the timelines.
 *
 * Receives (inside a script): the message hash key, the event (decoded and as JSON), the publish
 * context (EventLog.scriptArg(): a JSON ARGV) and what only the script knows (first click on a link,
 * the time a first open is measured from, whether the event stays off the timeline).
 * Promises: one stream entry per event (fields message, tag, domain, meta, event), the stream
 * trimmed by length (MAXLEN ~) and age (MINID ~); every counter of the event incremented in each of
 * its scopes' hour buckets (stats-scope.ts spells the same names), each bucket given the statistics
 * retention. Returns {streamId or '', event JSON, tag, domain, meta JSON}.
 *
 * Every key these functions touch starts with the namespace's hash tag, like the script's declared
 * keys, so they share its Redis Cluster slot.
 */

/** Lua: local functions ev_context(msgKey), ev_publish(c, ev, eventJson, p, x) and ev_publish_queued(c, eventsJson, p); paste at the top of a script. */
export const EVENT_FUNCTIONS = `
local function ev_context(msg)
  local f = redis.call('HMGET', msg, 'id', 'tag', 'headerFrom', 'meta', 'createdAt')
  local from = f[3] or ''
  return { id = f[1] or '', tag = f[2] or '', domain = string.lower(string.match(from, '@([^@]+)$') or ''),
    meta = f[4] or '{}', createdAt = tonumber(f[5] or '0') or 0 }
end

local function ev_scopes(c)
  local s = { 'all' }
  if c.tag ~= '' then s[#s + 1] = 't:' .. c.tag end
  if c.domain ~= '' then s[#s + 1] = 'd:' .. c.domain end
  if c.tag ~= '' and c.domain ~= '' then s[#s + 1] = 'td:' .. c.domain .. ':' .. c.tag end
  return s
end

-- The counters of one event (names: src/events/stats.ts reads them).
local function ev_count(c, ev, p, x)
  local t = ev['type']
  local f = { t }
  if t == 'bounced' then
    if type(ev['failure']) == 'table' then
      f[#f + 1] = 'bounced:reason:' .. tostring(ev['failure']['reason'])
      f[#f + 1] = 'bounced:group:' .. tostring(ev['failure']['group'])
    end
    if ev['hard'] == true then f[#f + 1] = 'bounced:hard' end
  end
  local firstOpenMs = nil
  if t == 'opened' or t == 'clicked' then
    if ev['count'] == 1 then f[#f + 1] = t .. ':unique' end
    if ev['machine'] == true then f[#f + 1] = t .. ':machine' else f[#f + 1] = t .. ':human' end
    if ev['firstHuman'] == true then
      f[#f + 1] = t .. ':human:unique'
      if t == 'opened' and x.sinceMs and x.sinceMs > 0 then firstOpenMs = math.max(0, p.now - x.sinceMs) end
    end
  end
  local hour = string.format('%d', math.floor(p.now / 3600000) * 3600)
  local link = nil
  if t == 'clicked' and ev['link'] ~= nil and type(ev['url']) == 'string' then link = tostring(ev['link']) .. '\\t' .. ev['url'] .. '\\t' end
  for _, scope in ipairs(ev_scopes(c)) do
    local key = p.counters .. scope .. ':' .. hour
    for _, field in ipairs(f) do redis.call('HINCRBY', key, field, 1) end
    if firstOpenMs then
      redis.call('HINCRBY', key, 'opened:first:ms', string.format('%d', firstOpenMs))
      redis.call('HINCRBY', key, 'opened:first:n', 1)
    end
    redis.call('EXPIRE', key, p.statsTtl)
    if link then
      local lkey = p.links .. scope .. ':' .. hour
      redis.call('HINCRBY', lkey, link .. 'clicks', 1)
      if ev['machine'] ~= true then redis.call('HINCRBY', lkey, link .. 'human', 1) end
      if x.linkFirst then redis.call('HINCRBY', lkey, link .. 'unique', 1) end
      if x.linkFirstHuman then redis.call('HINCRBY', lkey, link .. 'human:unique', 1) end
      redis.call('EXPIRE', lkey, p.statsTtl)
    end
  end
end

-- One stream entry (bounded by length); returns its id. ev_trim_age once per script run.
local function ev_stream(c, eventJson, p)
  local args = { 'XADD', p.stream }
  if p.maxLen > 0 then
    args[#args + 1] = 'MAXLEN'
    args[#args + 1] = '~'
    args[#args + 1] = string.format('%d', p.maxLen)
  end
  for _, v in ipairs({ '*', 'message', c.id, 'tag', c.tag, 'domain', c.domain, 'meta', c.meta, 'event', eventJson }) do args[#args + 1] = v end
  return redis.call(unpack(args))
end

local function ev_trim_age(p)
  if p.retentionMs > 0 then redis.call('XTRIM', p.stream, 'MINID', '~', string.format('%d', p.now - p.retentionMs)) end
end

-- x.quiet: counted, but kept off the stream (an event the timeline does not keep either).
local function ev_publish(c, ev, eventJson, p, x)
  local sid = ''
  if not x.quiet then
    sid = ev_stream(c, eventJson, p)
    ev_trim_age(p)
  end
  ev_count(c, ev, p, x)
  return { sid, eventJson, c.tag, c.domain, c.meta }
end

-- The "queued" events of a message being accepted: a stream entry each, one count of n per scope.
local function ev_publish_queued(c, eventsJson, p)
  local ids = {}
  for i, json in ipairs(eventsJson) do ids[i] = ev_stream(c, json, p) end
  ev_trim_age(p)
  local hour = string.format('%d', math.floor(p.now / 3600000) * 3600)
  for _, scope in ipairs(ev_scopes(c)) do
    local key = p.counters .. scope .. ':' .. hour
    redis.call('HINCRBY', key, 'queued', #eventsJson)
    redis.call('EXPIRE', key, p.statsTtl)
  end
  return ids
end
`;

