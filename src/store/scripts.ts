/**
 * Lua scripts of the message store, each named for what it does. Each one that records an event
 * also publishes it (events/publish-lua.ts: stream entry and statistics counters) in the same run,
 * and returns {result, streamId, event JSON, tag, domain, meta JSON} when it recorded — {result}
 * when it did not — for EventLog.published().
 */
import { EVENT_FUNCTIONS } from '../events/publish-lua.js';

/**
 * acceptMessage — everything of a message being accepted except its body and delivery jobs (the
 * MULTI around it adds those): envelope, recipient states, timeline, the "queued" events published
 * (stream entries, statistics), and the search indexes. One script instead of a dozen commands in
 * the MULTI: each command costs the client a command object, a QUEUED reply and a result.
 *
 * KEYS[1] message hash, KEYS[2] recipients hash, KEYS[3] events list, KEYS[4] message index
 * ARGV[1] publish context (EventLog.scriptArg()),
 * ARGV[2] JSON {id, env: [field, value, ...], now, indexMs, trimIndex: bool, tagIndex: key or '', rcptIndex: [key, ...]}
 * ARGV[3] n recipients, ARGV[4 .. 3+n] their "queued" events (JSON), ARGV[4+n .. 3+2n] their states (JSON)
 * Result: the stream ids of the n events, in order.
 */
export const ACCEPT_MESSAGE = `${EVENT_FUNCTIONS}
local a = cjson.decode(ARGV[2])
local n = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], unpack(a.env))
-- In chunks: unpack() of a few thousand values would overflow Lua's C stack (smtp.limits.maxRecipients is unbounded).
local events = {}
for first = 1, n, 500 do
  local states, chunk = {}, {}
  for i = first, math.min(n, first + 499) do
    events[i] = ARGV[3 + i]
    chunk[#chunk + 1] = events[i]
    states[#states + 1] = tostring(i - 1)
    states[#states + 1] = ARGV[3 + n + i]
  end
  redis.call('HSET', KEYS[2], unpack(states))
  redis.call('RPUSH', KEYS[3], unpack(chunk))
end
local ids = ev_publish_queued(ev_context(KEYS[1]), events, cjson.decode(ARGV[1]))
local old = string.format('%d', a.now - a.indexMs)
redis.call('ZADD', KEYS[4], a.now, a.id)
if a.trimIndex then redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', old) end
if a.tagIndex ~= '' then
  redis.call('ZADD', a.tagIndex, a.now, a.id)
  redis.call('ZREMRANGEBYSCORE', a.tagIndex, '-inf', old)
  redis.call('PEXPIRE', a.tagIndex, a.indexMs)
end
for _, key in ipairs(a.rcptIndex) do
  redis.call('ZADD', key, a.now, a.id)
  redis.call('PEXPIRE', key, a.indexMs)
end
return ids
`;

/**
 * recordRecipientEvent — set a recipient's state and append its event, atomically; a recipient
 * that is already final is left alone (a duplicate job after a crash changes nothing).
 *
 * KEYS[1] message hash, KEYS[2] body, KEYS[3] recipients hash, KEYS[4] events list
 * ARGV[1] recipient index, ARGV[2] state JSON, ARGV[3] event JSON,
 * ARGV[4] "1" when the new state is final, ARGV[5] retention seconds, ARGV[6] body retention seconds,
 * ARGV[7] publish context (EventLog.scriptArg())
 * Result 1 when recorded, 2 when recorded and it was the message's last pending recipient,
 * 0 when the recipient was already final (or unknown).
 */
export const RECORD_RECIPIENT_EVENT = `${EVENT_FUNCTIONS}
local current = redis.call('HGET', KEYS[3], ARGV[1])
if not current then return {0} end
local status = cjson.decode(current)['status']
if status ~= 'queued' and status ~= 'deferred' then return {0} end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[4], ARGV[3])
local published = ev_publish(ev_context(KEYS[1]), cjson.decode(ARGV[3]), ARGV[3], cjson.decode(ARGV[7]), {})
local result = 1
if ARGV[4] == '1' then
  ${finishRecipient('ARGV[5]', 'ARGV[6]')}
end
return {result, unpack(published)}
`;

/**
 * Lua: one recipient of the message became final. When it was the last, the message keeps its
 * history for the retention time and its body for the body retention time (0: deleted now).
 * Sets the script's `result` to 2 in that case. KEYS[1..4]: message, body, recipients, events.
 */
function finishRecipient(retention: string, bodyRetention: string): string {
  return `local pending = redis.call('HINCRBY', KEYS[1], 'pending', -1)
  if pending <= 0 then
    for i = 1, 4 do
      local ttl = tonumber(i == 2 and ${bodyRetention} or ${retention})
      if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) else redis.call('DEL', KEYS[i]) end
    end
    result = 2
  end`;
}

/**
 * recordReport — what a report received later (a DSN, a complaint, an auto-reply) says about one
 * recipient: its event appended, its state replaced when the report changes it. Each kind of
 * report counts once per recipient (a replayed DSN changes nothing); the state must still be the
 * one the caller decided on (else -1: read again).
 *
 * KEYS[1] message hash, KEYS[2] body, KEYS[3] recipients hash, KEYS[4] events list, KEYS[5] reports seen (set)
 * ARGV[1] recipient index, ARGV[2] status the caller saw, ARGV[3] new state JSON ('' = unchanged),
 * ARGV[4] event JSON, ARGV[5] report kind, ARGV[6] "1" when a pending recipient becomes final,
 * ARGV[7] retention seconds, ARGV[8] body retention seconds, ARGV[9] publish context
 * Result 1 (or 2, see finishRecipient) when recorded, 0 when already seen or the message is gone,
 * -1 when the state changed since the caller read it.
 */
export const RECORD_REPORT = `${EVENT_FUNCTIONS}
local current = redis.call('HGET', KEYS[3], ARGV[1])
if not current then return {0} end
if cjson.decode(current)['status'] ~= ARGV[2] then return {-1} end
if redis.call('SADD', KEYS[5], ARGV[1] .. ':' .. ARGV[5]) == 0 then return {0} end
local ttl = redis.call('TTL', KEYS[3])
redis.call('EXPIRE', KEYS[5], ttl > 0 and ttl or tonumber(ARGV[7]))
if ARGV[3] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[3]) end
redis.call('RPUSH', KEYS[4], ARGV[4])
local published = ev_publish(ev_context(KEYS[1]), cjson.decode(ARGV[4]), ARGV[4], cjson.decode(ARGV[9]), {})
local result = 1
if ARGV[6] == '1' then
  ${finishRecipient('ARGV[7]', 'ARGV[8]')}
end
return {result, unpack(published)}
`;

/**
 * recordEngagement — an open, click or unsubscribe of a recipient: appended to the message's
 * timeline and counted in the recipient's engagement, atomically; the recipient's delivery state
 * is left as it is. Nothing is recorded for a message whose history is gone (retention passed).
 * The event gets `count` (the recipient's nth open / click) and `firstHuman` (the first one not
 * taken for a machine); an unsubscribe is recorded once. Past the 100th open (click) of a
 * recipient only the counts grow: a pixel in a forwarded or archived copy can be fetched without
 * end, and the timeline must stay small.
 *
 * The event is published (stream and statistics) like the timeline's; one past the 100th is
 * counted but kept off the stream too. A first open is measured from the recipient's delivery
 * (from the message's acceptance when no delivery is recorded).
 *
 * KEYS[1] recipients hash, KEYS[2] events list, KEYS[3] engagement hash, KEYS[4] clicks hash, KEYS[5] message hash
 * ARGV[1] recipient index, ARGV[2] open | click | honeypot | unsubscribe, ARGV[3] event JSON,
 * ARGV[4] "1" when taken for a machine, ARGV[5] link index ('' for none), ARGV[6] now ms,
 * ARGV[7] client IP, ARGV[8] seconds the engagement keys live while the message has no expiry yet,
 * ARGV[9] publish context
 * Result: the count for an open or click, 1 for a honeypot hit or a new unsubscribe, -1 for an
 * unsubscribe already recorded, 0 when the message or recipient is unknown.
 */
export const RECORD_ENGAGEMENT = `${EVENT_FUNCTIONS}
local state = redis.call('HGET', KEYS[1], ARGV[1])
if not state then return {0} end
local raw = redis.call('HGET', KEYS[3], ARGV[1])
local s = raw and cjson.decode(raw) or {}
local event = cjson.decode(ARGV[3])
local what, human, now = ARGV[2], ARGV[4] ~= '1', tonumber(ARGV[6])
local result = 1
local x = {}
if what == 'unsubscribe' then
  if s['unsubscribedAt'] then return {-1} end
  s['unsubscribedAt'] = now
elseif what == 'honeypot' then
  s['honeypotAt'] = now
  s['honeypotIp'] = ARGV[7]
else
  local n = what == 'open' and {'opens', 'humanOpens', 'firstOpenAt', 'firstHumanOpenAt'} or {'clicks', 'humanClicks', 'firstClickAt', 'firstHumanClickAt'}
  s[n[1]] = (s[n[1]] or 0) + 1
  event['count'] = s[n[1]]
  if not s[n[3]] then s[n[3]] = now end
  if human then
    s[n[2]] = (s[n[2]] or 0) + 1
    if not s[n[4]] then
      s[n[4]] = now
      event['firstHuman'] = true
    end
  end
  if what == 'click' then
    s['lastClickAt'] = now
    s['lastClickIp'] = ARGV[7]
    s['lastClickLink'] = tonumber(ARGV[5])
    local field = ARGV[5] .. ':' .. ARGV[1]
    x.linkFirst = redis.call('HINCRBY', KEYS[4], field, 1) == 1
    if human then x.linkFirstHuman = redis.call('HINCRBY', KEYS[4], field .. ':h', 1) == 1 end
  end
  result = s[n[1]]
end
redis.call('HSET', KEYS[3], ARGV[1], cjson.encode(s))
local eventJson = cjson.encode(event)
x.quiet = not (result <= 100 or event['firstHuman'])
if not x.quiet then redis.call('RPUSH', KEYS[2], eventJson) end
local c = ev_context(KEYS[5])
local rs = cjson.decode(state)
x.sinceMs = (rs['status'] == 'delivered' and tonumber(rs['updatedAt'])) or c.createdAt
local published = ev_publish(c, event, eventJson, cjson.decode(ARGV[9]), x)
-- Engagement lives as long as the timeline; before the message's expiry is set, for ARGV[8].
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then ttl = tonumber(ARGV[8]) end
redis.call('EXPIRE', KEYS[3], ttl)
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('EXPIRE', KEYS[4], ttl) end
return {result, unpack(published)}
`;
