/**
 * Lua scripts of the message store, each named for what it does.
 */

/**
 * recordRecipientEvent — set a recipient's state and append its event, atomically; a recipient
 * that is already final is left alone (a duplicate job after a crash changes nothing).
 *
 * KEYS[1] message hash, KEYS[2] body, KEYS[3] recipients hash, KEYS[4] events list
 * ARGV[1] recipient index, ARGV[2] state JSON, ARGV[3] event JSON,
 * ARGV[4] "1" when the new state is final, ARGV[5] retention seconds, ARGV[6] body retention seconds
 * Returns 1 when recorded, 2 when recorded and it was the message's last pending recipient,
 * 0 when the recipient was already final (or unknown).
 */
export const RECORD_RECIPIENT_EVENT = `
local current = redis.call('HGET', KEYS[3], ARGV[1])
if not current then return 0 end
local status = cjson.decode(current)['status']
if status ~= 'queued' and status ~= 'deferred' then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[4], ARGV[3])
if ARGV[4] == '1' then
  ${finishRecipient('ARGV[5]', 'ARGV[6]')}
end
return 1
`;

/**
 * Lua: one recipient of the message became final. When it was the last, the message keeps its
 * history for the retention time and its body for the body retention time (0: deleted now).
 * Returns 2 from the script in that case. KEYS[1..4]: message, body, recipients, events.
 */
function finishRecipient(retention: string, bodyRetention: string): string {
  return `local pending = redis.call('HINCRBY', KEYS[1], 'pending', -1)
  if pending <= 0 then
    for i = 1, 4 do
      local ttl = tonumber(i == 2 and ${bodyRetention} or ${retention})
      if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) else redis.call('DEL', KEYS[i]) end
    end
    return 2
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
 * ARGV[7] retention seconds, ARGV[8] body retention seconds
 * Returns 1 (or 2, see finishRecipient) when recorded, 0 when already seen or the message is gone.
 */
export const RECORD_REPORT = `
local current = redis.call('HGET', KEYS[3], ARGV[1])
if not current then return 0 end
if cjson.decode(current)['status'] ~= ARGV[2] then return -1 end
if redis.call('SADD', KEYS[5], ARGV[1] .. ':' .. ARGV[5]) == 0 then return 0 end
local ttl = redis.call('TTL', KEYS[3])
redis.call('EXPIRE', KEYS[5], ttl > 0 and ttl or tonumber(ARGV[7]))
if ARGV[3] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[3]) end
redis.call('RPUSH', KEYS[4], ARGV[4])
if ARGV[6] == '1' then
  ${finishRecipient('ARGV[7]', 'ARGV[8]')}
end
return 1
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
 * KEYS[1] recipients hash, KEYS[2] events list, KEYS[3] engagement hash, KEYS[4] clicks hash
 * ARGV[1] recipient index, ARGV[2] open | click | honeypot | unsubscribe, ARGV[3] event JSON,
 * ARGV[4] "1" when taken for a machine, ARGV[5] link index ('' for none), ARGV[6] now ms,
 * ARGV[7] client IP, ARGV[8] seconds the engagement keys live while the message has no expiry yet
 * Returns the count for an open or click, 1 for a honeypot hit or a new unsubscribe, -1 for an
 * unsubscribe already recorded, 0 when the message or recipient is unknown.
 */
export const RECORD_ENGAGEMENT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local raw = redis.call('HGET', KEYS[3], ARGV[1])
local s = raw and cjson.decode(raw) or {}
local event = cjson.decode(ARGV[3])
local what, human, now = ARGV[2], ARGV[4] ~= '1', tonumber(ARGV[6])
local result = 1
if what == 'unsubscribe' then
  if s['unsubscribedAt'] then return -1 end
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
    redis.call('HINCRBY', KEYS[4], field, 1)
    if human then redis.call('HINCRBY', KEYS[4], field .. ':h', 1) end
  end
  result = s[n[1]]
end
redis.call('HSET', KEYS[3], ARGV[1], cjson.encode(s))
if result <= 100 or event['firstHuman'] then redis.call('RPUSH', KEYS[2], cjson.encode(event)) end
-- Engagement lives as long as the timeline; before the message's expiry is set, for ARGV[8].
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then ttl = tonumber(ARGV[8]) end
redis.call('EXPIRE', KEYS[3], ttl)
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('EXPIRE', KEYS[4], ttl) end
return result
`;
