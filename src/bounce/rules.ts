/**
 * THE bounce rule table: ordered data rules → Sisimai reason names. classify.ts walks it top to
 * bottom and takes the first rule that matches; operators' `bounce.rules` (config) are checked
 * before it. A rule matches when every condition it has holds:
 *   - `status`: a regex on the enhanced status code ("5.1.1"),
 *   - `code`: a regex on the SMTP reply code ("550"),
 *   - `pattern`: a case-insensitive regex on the diagnostic text (English and Japanese).
 * Order: diagnostic meaning first (servers put generic or wrong codes on specific texts: 550 5.1.1
 * "mailbox full", 5.7.1 for everything), then the status code's meaning, then the reply code.
 */

export const REASONS = [
  'userunknown', 'hostunknown', 'mailboxfull', 'mesgtoobig', 'exceedlimit', 'suspend', 'hasmoved', 'filtered',
  'rejected', 'blocked', 'spamdetected', 'policyviolation', 'authfailure', 'requireptr', 'badreputation',
  'securityerror', 'virusdetected', 'norelaying', 'notaccept', 'toomanyconn', 'speeding', 'networkerror',
  'systemerror', 'systemfull', 'mailererror', 'contenterror', 'notcompliantrfc', 'syntaxerror', 'expired',
  'failedstarttls', 'onhold', 'undefined', 'feedback', 'vacation', 'delivered',
] as const;
export type Reason = (typeof REASONS)[number];

export interface Rule {
  reason: Reason;
  status?: RegExp;
  code?: RegExp;
  pattern?: RegExp;
  /** why this rule exists */
  why: string;
}

const p = (source: string): RegExp => new RegExp(source, 'i');

export const RULES: readonly Rule[] = [
  // ---- providers' documented error codes (their own numbering beats the text around it) ----
  // Orange / La Poste (wanadoo.fr, orange.fr, laposte.net): "... OFR_506 [506]", "LPN007_420", "OFR004_405"
  { reason: 'blocked', pattern: p(String.raw`\b(?:OFR|LPN|LPNAAA|OUK)\d*_(?:101|102|103|510|999)\b`), why: 'Orange/La Poste: IP blocked, service refused' },
  { reason: 'toomanyconn', pattern: p(String.raw`\b(?:OFR|LPN|OUK)\d*_104\b`), why: 'Orange/La Poste: too many connections' },
  { reason: 'securityerror', pattern: p(String.raw`\b(?:OFR|LPN|OUK)\d*_(?:305|402)\b`), why: 'Orange/La Poste: authentication invalid / required' },
  { reason: 'authfailure', pattern: p(String.raw`\b(?:OFR|LPN|OUK)\d*_(?:401|517)\b`), why: 'Orange/La Poste: SPF / DMARC failure' },
  { reason: 'rejected', pattern: p(String.raw`\b(?:OFR|LPN|OUK)\d*_(?:403|405|415|421)\b`), why: 'Orange/La Poste: invalid sender' },
  { reason: 'userunknown', pattern: p(String.raw`\b(?:OFR|LPN|OUK)\d*_416\b`), why: 'Orange/La Poste: invalid recipient' },
  { reason: 'mailboxfull', pattern: p(String.raw`\b(?:OFR|LPN|OUK)\d*_417\b`), why: 'Orange/La Poste: recipient over quota' },
  { reason: 'suspend', pattern: p(String.raw`\b(?:OFR|LPN|OUK)\d*_(?:420|426)\b`), why: 'Orange/La Poste: recipient archived / blocked' },
  { reason: 'systemerror', pattern: p(String.raw`\b(?:OFR|LPN|OUK)\d*_505\b`), why: 'Orange/La Poste: service refused after DATA, try later' },
  { reason: 'spamdetected', pattern: p(String.raw`\b(?:OFR|LPN|OUK)\d*_506\b`), why: 'Orange/La Poste: mail rejected (content)' },
  { reason: 'mesgtoobig', pattern: p(String.raw`\b(?:OFR|LPN|OUK)\d*_514\b`), why: 'Orange/La Poste: size limit' },
  { reason: 'policyviolation', pattern: p(String.raw`\b(?:OFR|LPN|OUK)\d*_630\b`), why: 'Orange/La Poste: client host rejected by policy' },
  // Mimecast: "554 Email rejected due to security policies - MCSpamSignature": a virus (or spam) signature matched
  { reason: 'virusdetected', pattern: p(String.raw`rejected due to security policies|MCSpamSignature`), why: 'Mimecast: signature (virus) detected' },

  // ---- diagnostic text: specific meanings that beat any code ----
  { reason: 'networkerror', pattern: p(String.raw`lost connection|connection (?:reset|dropped)|接続(?:でき|に失敗)|(?:able|unable|failed) to establish (?:an )?smtp connection|no route to host|network (?:is )?unreachable|network error|dns query failed|malformed or unexpected name server reply`), why: 'DNS or connection failure (before texts that mention HELO or expiry)' },
  { reason: 'rejected', pattern: p(String.raw`recipient addresses rejected ?: access denied|is not a registered gateway user`), why: 'the whole transaction refused for the sender (Office 365 "All recipient addresses rejected : Access denied"), a gateway that does not know the sender' },
  { reason: 'norelaying', pattern: p(String.raw`email address is not verified`), why: 'a sending service that relays only for verified sender identities (Amazon SES)' },
  { reason: 'hostunknown', pattern: p(String.raw`domain may not exist`), why: 'cPanel/Exim "The account or domain may not exist, they may be blacklisted, or missing the proper dns entries" (before "blacklisted")' },
  { reason: 'syntaxerror', pattern: p(String.raw`malformed address`), why: 'Exim: an address in the message could not be parsed' },
  { reason: 'badreputation', pattern: p(String.raw`deferred due to (?:unexpected volume or )?user complaints`), why: 'Yahoo: deferred because of complaints about the sending IP (its reputation)' },
  { reason: 'userunknown', pattern: p(String.raw`recipient address rejected: access denied|unable to deliver message to \S+ \(and other recipients in the same domain\)|not listed in (?:the )?(?:domino )?directory|invalid (?:final delivery )?userid`), why: 'directory-based recipient rejections (Office 365 edge "Access denied" at RCPT, Domino)' },
  { reason: 'spamdetected', pattern: p(String.raw`rejected (?:due to|as) spam|spam classification|(?:blacklisted|block ?listed|listed) (?:url|link|uri|domain)s? in (?:the )?message|\b(?:uribl|surbl)\b`), why: 'explicit spam verdicts (before texts that mention SPF as advice)' },
  { reason: 'toomanyconn', pattern: p(String.raw`(?:connection|ip) frequency limited`), why: 'per-IP connection frequency limits' },
  { reason: 'speeding', pattern: p(String.raw`too many (?:recipients|messages|mails) (?:this|per|an|in the last) (?:hour|minute|day)`), why: 'per-hour volume limits' },
  { reason: 'notcompliantrfc', pattern: p(String.raw`duplicate header|multiple addresses in from|multiple (?:from|date|subject|message-id) (?:header|field)`), why: 'RFC 5322 violations, even when the header named is DKIM-Signature' },
  { reason: 'rejected', pattern: p(String.raw`sender (?:address )?(?:was |is )?rejected|permission to post|from:? domain is invalid|provide a valid from`), why: 'the envelope sender refused (before the generic "access denied")' },
  { reason: 'securityerror', pattern: p(String.raw`unauthenticated senders?|authentication (?:is )?required`), why: 'the receiver wants SMTP authentication' },
  { reason: 'blocked', pattern: p(String.raw`(?:my|our) name was rejected|not accepting connections|invalid ip (?:address )?for sending`), why: 'our HELO name or connection refused' },
  { reason: 'systemfull', pattern: p(String.raw`insufficient (?:disk|system) (?:space|storage)|system (?:disk )?(?:is )?full`), why: 'the server itself is out of space (not one mailbox)' },
  { reason: 'contenterror', pattern: p(String.raw`headers? too (?:large|long|many)|too many headers`), why: 'header format/size refused (before "too large")' },
  { reason: 'authfailure', pattern: p(String.raw`authentication information|fails to pass authentication`), why: 'Gmail: no SPF/DKIM authentication' },
  { reason: 'policyviolation', pattern: p(String.raw`content presents a potential`), why: 'Gmail: content policy (attachments, links)' },
  { reason: 'notaccept', pattern: p(String.raw`(?:couldn't|could not|cannot|unable to) find (?:a |any )?mail exchanger|no mx (?:record|host)s? (?:found|for)`), why: 'the domain has no MX: accepts no mail' },
  { reason: 'virusdetected', pattern: p(String.raw`virus|malware|infected|ウイルス`), why: 'a virus scanner refused the content' },
  { reason: 'authfailure', pattern: p(String.raw`\bspf\b|sender policy framework|\bdkim\b|\bdmarc\b|authentication checks? (?:did not pass|failed)|not pass (?:authentication|dmarc)|unauthenticated email|5\.7\.2[367]\b|5\.7\.509`), why: 'SPF/DKIM/DMARC failure (5.7.23-27, Microsoft 5.7.509)' },
  { reason: 'requireptr', pattern: p(String.raw`unverif[iy]able (?:sending )?ips?|reverse (?:dns|lookup|hostname)|\bptr\b|rdns|no (?:dns )?hostname|cannot find your hostname|(?:hostname|ip address)[^.]{0,40}(?:does not resolve|not resolve|unresolvable)|resolve your address|client host .{0,60}(?:failed|unknown|rejected: cannot find)|unknown client|IP name lookup failed|逆引き`), why: 'the sending IP has no or a mismatched PTR record' },
  { reason: 'badreputation', pattern: p(String.raw`\breputation\b|poor reputation|temporarily rate limited due to ip reputation|5\.7\.650`), why: 'the sending IP address has a bad reputation' },
  { reason: 'failedstarttls', pattern: p(String.raw`starttls|(?:does not|doesn't) support (?:tls|ssl)|tls (?:negotiation|handshake) failed|must issue a starttls|tls (?:is )?required|encryption required|requires? (?:a )?secure connection`), why: 'TLS required by the receiver, or it failed' },
  { reason: 'mailboxfull', pattern: p(String.raw`mailbox (?:is )?full|mail ?box (?:size )?(?:limit|quota)|over ?quota|quota (?:exceeded|full|violation)|exceeded (?:the )?(?:storage|quota|disk)|exceeds? (?:the )?(?:mailbox|storage|size limit of (?:the )?mailbox|quota)|(?:disk|storage) quota|insufficient (?:disk )?space|not enough (?:storage|space)|mailbox (?:has )?exceeded|user(?:'s)? (?:disk|mailbox) (?:is )?full|account is full|is over (?:the )?(?:allowed )?(?:quota|limit)|mailfolder is full|too many messages in (?:this|the) mailbox|容量(?:を|が)?(?:超過|オーバー|不足|いっぱい|一杯)|メールボックスが(?:一杯|いっぱい)`), why: 'the mailbox is over quota' },
  { reason: 'exceedlimit', status: /^5\.2\.3$/, why: '5.2.3: message length exceeds the recipient\'s limit' },
  { reason: 'mesgtoobig', pattern: p(String.raw`message (?:is )?(?:too (?:large|big)|size exceeds|exceeds (?:the )?(?:maximum|fixed|size))|(?:size|length) (?:limit )?exceed|message length exceeds|too large|too big|exceeds? (?:the )?maximum (?:message )?size|size of (?:the )?message|file too large|line limit exceeded|サイズ.{0,10}(?:超|大き)`), why: 'the message is larger than the destination accepts' },
  { reason: 'hasmoved', pattern: p(String.raw`has been moved|address has changed|has moved|no longer (?:valid|available) .{0,30}forward|user has moved`), why: 'mailbox moved and mail not forwarded' },
  { reason: 'suspend', pattern: p(String.raw`(?:account|mailbox|user|recipient|address)(?: \S+){0,3} (?:is |has been |was )?(?:disabled|suspended|deactivated|inactive|frozen|locked|expired|closed|blocked(?! using))|disabled (?:account|mailbox|recipient)|(?<!temporarily )suspended|account .{0,20}not active|mailbox (?:is )?(?:currently )?unavailable for delivery|not accepting (?:any )?(?:mail|messages)|recipient is inactive|this (?:account|mailbox) has been (?:closed|terminated)|利用停止|停止(?:中|されて)`), why: 'the account exists but is suspended/disabled' },
  { reason: 'norelaying', pattern: p(String.raw`relay(?:ing)? (?:access )?(?:denied|not (?:permitted|allowed)|prohibited|rejected)|not (?:permitted|allowed) to relay|unable to relay|relay not permitted|we do not relay|no relaying|cannot relay|not a gateway|insecure mail relay|relaying mail to .{0,40} is not allowed`), why: 'the server refused to relay' },
  { reason: 'toomanyconn', pattern: p(String.raw`too many (?:connections|concurrent|simultaneous|sessions|recipients)|connection (?:limit|rate limit)|too many (?:smtp )?sessions|maximum number of connections|exceeds? (?:the )?(?:number of )?connections`), why: 'too many connections or recipients per connection' },
  { reason: 'speeding', pattern: p(String.raw`rate ?limit(?:ed)?|too many (?:emails|messages|mails) (?:sent|from)|sending too fast|try (?:again )?(?:later|slower)[^.]*rate|throttl|sending rate|exceeded (?:the )?(?:hourly|daily)`), why: 'sending too fast: rate limited' },
  { reason: 'notcompliantrfc', pattern: p(String.raw`(?:not|non)[- ](?:rfc[ -]?\d*[ -]?)?complian|rfc ?(?:2822|5322|5321) (?:complian|violation)|violat\S* rfc|duplicate (?:header|message-id|from|date|subject)|multiple (?:from|date|subject|to) (?:header|line)|header (?:is )?(?:malformed|invalid)|bare (?:lf|cr)|line too long`), why: 'the message violates the RFCs' },
  { reason: 'spamdetected', pattern: p(String.raw`\bspam\b|spammy|\buce\b|unsolicited|junk mail|bulk mail|content (?:was )?(?:rejected|refused|filter)|message content (?:was )?(?:rejected|refused|not accepted)|considered (?:as )?(?:spam|junk)|looks like spam|detected as spam|spam score|high spam|classified as spam|suspicious|phishing|message (?:was |has been )?(?:rejected|refused|blocked) (?:by|due to|because of)? ?(?:our |the )?(?:spam|content|anti-?spam|filter)|迷惑メール`), why: 'the receiver\'s spam filter refused it' },
  { reason: 'blocked', pattern: p(String.raw`block(?:ed|list(?:ed)?)|black ?list(?:ed)?|deny ?list|(?<!not )listed (?:in|on|at)|block ?list|unwanted messages|\bdnsbl\b|\brbl\b|spamhaus|spamcop|sorbs|barracuda|client host (?:\[[^\]]*\] )?(?:is )?(?:rejected|blocked)|use the smtp server of your (?:isp|provider)|no access from mail server|your (?:ip|host|server|network)(?: address)? (?:\S+ )?(?:is|has been|was) (?:not allowed|blocked|rejected|banned|listed)|connection (?:refused|rejected) (?:from|by)|refused by local policy|banned|not allowed to send|ip (?:address )?(?:is )?(?:not allowed|rejected|banned)|(?:helo|ehlo) (?:\S+ )?(?:rejected|denied|invalid|not allowed)|invalid (?:helo|ehlo)|connections? (?:not )?(?:accepted|allowed) from|dialup|dynamic ip|residential|poor reputation|has been temporarily (?:restricted|deferred)|refused to talk to me|\bdenied\b.{0,30}\b(?:ip|host|client|connection)`), why: 'the client IP/host/HELO is refused (blocklists)' },
  { reason: 'policyviolation', pattern: p(String.raw`protocol violation|header error|headers? (?:are|is) not accepted|denied by policy|polic(?:y|ies) (?:violation|reasons|restriction)|violat(?:es|ion of) (?:our |the )?(?:\S+ )?polic|content polic|attachments? (?:are |is )?(?:not (?:allowed|permitted)|prohibited|blocked)|prohibited (?:attachment|file|content)|not allowed (?:by|due to) (?:our |the )?polic|rejected (?:by|due to) (?:our |the )?(?:local )?polic|organization polic|(?:executable|dangerous|forbidden) (?:file|attachment)`), why: 'refused by a policy of the destination' },
  { reason: 'rejected', pattern: p(String.raw`permission to post|sender was rejected|purported responsible address|'send mail as'|sender (?:address |domain )?(?:is )?(?:rejected|refused|denied|blocked|invalid|unknown|not (?:allowed|permitted))|(?:domain of )?sender address (?:does not exist|rejected|refused|must exist)|(?:envelope |mail )?(?:from|sender) (?:address |domain )?(?:is )?(?:invalid|not (?:allowed|accepted|verified))|sender verify failed|unverifiable sender|unknown sender|bad sender|sender not (?:allowed|permitted)|domain (?:of )?(?:sender|from)|reject(?:ed)? (?:for|from) (?:sender|envelope)|mail from .{0,60}(?:rejected|refused)|your (?:email )?address .{0,20}(?:is )?(?:not allowed|rejected|blocked)|sender.{0,20}(?:blacklist|block ?list)|送信者`), why: 'refused because of the envelope sender' },
  { reason: 'securityerror', pattern: p(String.raw`authentication (?:is )?required|must (?:authenticate|be authenticated)|not authenticated|authentication failed|auth(?:entication)? credentials|security (?:policy|violation|reason)|insecure|5\.7\.[0]\b.{0,40}authenticat|sender is not authorized|not authorized to send|access to .{0,30} denied`), why: 'a security check failed (authentication required etc.)' },
  { reason: 'hostunknown', pattern: p(String.raw`host \S+ not found|(?:^|[\s:;'"])(?:[a-z0-9-]+\.)+[a-z]{2,}\.? does not exist|host (?:or domain name )?(?:not found|unknown)|unknown host|domain (?:name )?(?:not found|does not exist|is not (?:valid|registered))|no such (?:domain|host)|unrouteable (?:mail )?domain|unrouteable address|unroutable address|domain (?:is )?not reachable|unroutable (?:mail )?domain|name service error|(?:host|domain) (?:name )?lookup fail(?:ed|ure)|nxdomain|unknown domain|invalid domain|domain (?:could not be|cannot be) (?:found|resolved)|mail domain .{0,30}(?:not found|does not exist)|no (?:mx|mail exchanger|dns) (?:or a )?record|ドメイン.{0,10}(?:存在しません|見つかりません)`), why: 'the recipient domain does not exist or cannot be resolved' },
  { reason: 'notaccept', pattern: p(String.raw`does not accept (?:any )?(?:e-?)?mail|null mx|accepts? no mail|not accepting mail|no mail (?:is )?accepted|domain does not receive`), why: 'the destination accepts no mail at all (null MX)' },
  { reason: 'userunknown', pattern: p(String.raw`user (?:name )?(?:is )?unknown|unknown (?:user|recipient|local[- ]part|mailbox|address|account)|no such (?:user|recipient|mailbox|address|account|person|local user)|(?:user|recipient|mailbox|address|account|email|e-mail) (?:address )?(?:\S+ )?(?:does not|doesn't|did not) exist|(?:user|recipient|mailbox|address|account) (?:not|wasn't|was not) (?:found|known|listed)|invalid (?:recipient|mailbox|user|address)|(?:recipient|mailbox|user) (?:address )?(?:is )?(?:invalid|unavailable|not valid)|not a (?:valid|known) (?:user|mailbox|recipient)|no mailbox|mailbox (?:not found|unavailable|does not exist)|bad (?:recipient|destination mailbox)|(?:user|recipient) (?:is )?not (?:here|local)|doesn't have a .{0,40} account|address (?:is )?(?:not|no longer) (?:valid|in use)|no longer (?:valid|active|in use)|not (?:listed in|a member of)|does not have (?:an? )?(?:account|mailbox)|recipient not found|unknown or illegal alias|no valid recipients|dd this user doesn't|who is unknown|account that you tried to reach does not exist|check if (?:the )?(?:recipient )?address is correct|存在しない|存在しません|該当(?:する)?(?:ユーザ|アドレス)(?:は|が)(?:ありません|いません)|宛先(?:が|は)?(?:見つかりません|不明|存在しません)|(?:メール)?アドレス.{0,12}(?:見つかりません|使用されていません|誤り)|アカウントが存在`), why: 'the local part does not exist' },
  { reason: 'filtered', pattern: p(String.raw`recipient preferences|filtered|rejected by (?:the )?(?:recipient|user)(?! domain)|recipient.{0,20}(?:refuses|refused|does not want)|受信拒否|拒否設定|指定受信|拒否されました`), why: 'refused by a recipient-side filter' },
  { reason: 'expired', pattern: p(String.raw`(?:delivery )?time ?(?:out|expired)|retry (?:time|timeout) (?:not reached|exceeded)|too long in (?:the )?queue|queue (?:time|lifetime)|will be retried for|did not accept our requests to connect|envelope expired|retried for \d+ more|message expired|has been (?:delayed|queued) (?:for|longer)|could not be delivered (?:for|within)|was not delivered (?:for|within)|gave up|giving up|retry period|maximum (?:time|age)|expired|no longer trying|could not find a gateway|host not reachable|配送(?:期限|時間)(?:切れ|を超過)|再送(?:を)?(?:断念|中止)|delivery attempts? .{0,30}(?:failed|exhausted|unsuccessful) .{0,30}(?:days|hours)`), why: 'the sender gave up after the queue lifetime' },
  { reason: 'mailererror', pattern: p(String.raw`mailer error|command (?:died|failed|output)|procmail:|pipe to \||local delivery failed|unknown mailer|exited with|exit status`), why: 'a local delivery program failed (its own report, not a pipe address such as "|procmail" in the recipient)' },
  { reason: 'systemfull', pattern: p(String.raw`insufficient system storage|system (?:disk )?(?:is )?full|out of (?:disk )?space|disk full`), why: 'the destination server\'s disk is full' },
  { reason: 'networkerror', pattern: p(String.raw`too many hops|hop count exceeded|forwarding loop|forwarded more than the maximum|routing loop|message looping|probably in a routing loop`), why: 'a routing/forwarding loop between hosts (x.4.6): the network path, not one host' },
  { reason: 'systemerror', pattern: p(String.raw`mail (?:for \S+ )?loops? (?:back|detected)|loops back to myself|would create a mail loop|loop detected|mail loop|local configuration error|system (?:error|config)|internal (?:server )?error|server error|temporary (?:local )?problem|misconfigur|database error|temporarily unavailable|service (?:is )?(?:currently )?(?:not |un)available|transaction failed|local error`), why: 'error on the remote host (loops, misconfiguration)' },
  { reason: 'expired', pattern: p(String.raw`(?:timed out|time-?out)[\s\S]{0,120}(?:in the queue too long|not going to try again|giving up|gave up)`), why: 'a connection that timed out until the sender gave up (qmail "in the queue too long")' },
  { reason: 'networkerror', pattern: p(String.raw`connection (?:refused|reset|closed|lost|dropped)|no route to host|network (?:is )?unreachable|could not connect|unable to connect|failed to connect|connect to .{0,60}(?:failed|refused)|dns (?:error|failure|lookup)|(?:temporary|temporarily) (?:failure|unable) .{0,20}(?:dns|lookup|resolve)|lost connection|broken pipe|no answer|malformed or unexpected name server reply|bad connection`), why: 'DNS or connection failure' },
  { reason: 'syntaxerror', pattern: p(String.raw`syntax error|command (?:not )?(?:recognized|unrecognized)|unrecognized command|bad sequence|command not implemented|parameter not implemented|line too long`), why: 'our SMTP command was refused as malformed' },
  { reason: 'contenterror', pattern: p(String.raw`header (?:format|syntax)|invalid (?:header|mime|character)|malformed (?:message|mime)|8-?bit|content (?:type|encoding) (?:not|is)`), why: 'the message format (headers) was refused' },

  // ---- enhanced status codes (RFC 3463 / 5248 meanings as Sisimai reads them) ----
  { reason: 'userunknown', status: /^[45]\.1\.[13]$|^5\.1\.0$/, why: 'x.1.1 bad mailbox, x.1.3 bad address syntax, 5.1.0 other address status' },
  { reason: 'hostunknown', status: /^[45]\.1\.2$|^5\.4\.4$/, why: 'x.1.2 bad destination system, 5.4.4 unable to route' },
  { reason: 'notaccept', status: /^5\.1\.10$|^5\.7\.27$/, why: '5.1.10 / 5.7.27 null MX' },
  { reason: 'hasmoved', status: /^5\.1\.6$/, why: 'x.1.6 mailbox moved' },
  { reason: 'rejected', status: /^[45]\.1\.[78]$/, why: 'x.1.7 / x.1.8 bad sender address' },
  { reason: 'suspend', status: /^[45]\.2\.1$/, why: 'x.2.1 mailbox disabled' },
  { reason: 'mailboxfull', status: /^[45]\.2\.2$/, why: 'x.2.2 mailbox full' },
  { reason: 'systemfull', status: /^[45]\.3\.1$/, why: 'x.3.1 mail system full' },
  { reason: 'notaccept', status: /^[45]\.3\.2$/, why: 'x.3.2 system not accepting messages' },
  { reason: 'mesgtoobig', status: /^[45]\.3\.4$/, why: 'x.3.4 message too big for system' },
  { reason: 'systemerror', status: /^5\.3\.0$|^[45]\.3\.5$|^[45]\.4\.3$/, why: 'x.3.0 / x.3.5 system error, x.4.3 directory/routing server failure' },
  { reason: 'networkerror', status: /^[45]\.4\.[0256]$|^5\.4\.1$/, why: 'x.4.x network and routing status, x.4.6 routing loop' },
  { reason: 'expired', status: /^[45]\.4\.7$|^4\.4\.1$/, why: 'x.4.7 delivery time expired; 4.4.1 no answer from host (Sisimai: gave up)' },
  { reason: 'syntaxerror', status: /^[45]\.5\.[2-4]$/, why: 'x.5.2-4 command syntax/sequence' },
  { reason: 'toomanyconn', status: /^[45]\.5\.3$/, why: 'x.5.3 too many recipients' },
  { reason: 'contenterror', status: /^[45]\.6\.[0-9]$/, why: 'x.6.x media/content errors' },
  { reason: 'securityerror', status: /^[45]\.7\.(?:0|[2-6]|8|11|12|13|14|15|16|17)$/, why: 'x.7.x security: authentication, delivery not authorized' },
  { reason: 'policyviolation', status: /^5\.7\.9$/, why: '5.7.9 authentication mechanism too weak (policy)' },
  { reason: 'failedstarttls', status: /^[45]\.7\.10$/, why: '5.7.10 encryption needed' },
  { reason: 'blocked', status: /^4\.7\.1$|^[45]\.7\.606$/, why: '4.7.1 delivery not authorized (temporarily), most often the client IP; 5.7.606 banned IP' },
  { reason: 'securityerror', status: /^5\.7\.1$/, why: '5.7.1 delivery not authorized, with no text saying why (Sisimai: securityerror)' },
  { reason: 'authfailure', status: /^5\.7\.(?:2[3-6])$/, why: 'SPF/DKIM/DMARC failure codes' },
  { reason: 'requireptr', status: /^5\.7\.25$/, why: 'no PTR' },
  { reason: 'blocked', pattern: p(String.raw`after (?:the )?initial connection|in (?:the )?(?:smtp )?greeting|at connect(?:ion)? time`), why: 'refused at connection time, before any command: the client IP/host' },
  { reason: 'expired', pattern: p(String.raw`in the queue too long`), why: 'qmail gave up: after the status code, which names the underlying error when there is one' },
  { reason: 'expired', pattern: p(String.raw`(?:connection|connect|operation) timed out`), why: 'a connection that kept timing out until the sender gave up (Sisimai: expired), when no status says more' },
  { reason: 'networkerror', pattern: p(String.raw`timed out|time-?out`), why: 'another timeout with no status that says more (4.4.1 with a timeout is expired above)' },
  { reason: 'userunknown', pattern: p(String.raw`recipient (?:address )?rejected(?:\.|\s*$|\s*\(in reply)`), why: 'a bare "recipient rejected" with no reason given (one that gives a reason we do not know stays undecided)' },
  { reason: 'policyviolation', status: /^[45]\.7\.\d+$/, why: 'other x.7.x: policy' },
];

/** Human-readable, for `bounce rules` style listings and tests. */
export function describeRule(r: Rule): string {
  return [r.status ? `status ${r.status.source}` : '', r.code ? `code ${r.code.source}` : '', r.pattern ? `text /${r.pattern.source.slice(0, 60)}…/` : ''].filter(Boolean).join(', ');
}
