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
  local pending = redis.call('HINCRBY', KEYS[1], 'pending', -1)
  if pending <= 0 then
    for i = 1, 4 do
      local ttl = tonumber(i == 2 and ARGV[6] or ARGV[5])
      if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) else redis.call('DEL', KEYS[i]) end
    end
    return 2
  end
end
return 1
`;
