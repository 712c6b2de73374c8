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
