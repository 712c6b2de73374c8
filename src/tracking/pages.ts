/**
 * The few HTML pages a recipient may see: the unsubscribe confirmation, the page after it, and
 * "this link is not valid" — in Japanese or English by Accept-Language.
 *
 * Receives: the language and the facts to name (sender's domain, the address, masked).
 * Promises: complete documents; every value put into them is HTML-escaped; no script and no
 * external resource (the HTTP layer sends a CSP that forbids both); the confirmation's form posts
 * to the page's own URL the same body as an RFC 8058 one-click POST.
 */
export type Language = 'ja' | 'en';

/** The preferred of ja / en by the header's q-values (ties: the first listed); English without a match. */
export function pickLanguage(acceptLanguage: string | undefined): Language {
  let best: { lang: Language; q: number } | null = null;
  for (const part of (acceptLanguage ?? '').slice(0, 1000).split(',')) {
    const [tag = '', ...params] = part.trim().toLowerCase().split(';');
    const primary = tag.split('-')[0];
    if (primary !== 'ja' && primary !== 'en') continue;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (Number.isFinite(q) && q > 0 && (!best || q > best.q)) best = { lang: primary, q };
  }
  return best?.lang ?? 'en';
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
}

/** "k***@example.jp": enough for the reader to recognise the address, little for whoever the link was forwarded to. */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at <= 0) return '***';
  return `${[...address.slice(0, at)][0]}***${address.slice(at)}`;
}

interface Subject {
  /** the sending domain, or null when the unsubscribe is from every sender */
  domain: string | null;
  address: string;
}

const TEXT = {
  en: {
    confirmTitle: 'Unsubscribe',
    confirm: (s: Subject) => `Stop mail from <strong>${sender(s, 'en')}</strong> to <strong>${escapeHtml(maskAddress(s.address))}</strong>?`,
    confirmNote: 'Nothing changes until you press the button.',
    button: 'Unsubscribe',
    doneTitle: 'You are unsubscribed',
    done: (s: Subject) => `Mail from <strong>${sender(s, 'en')}</strong> will no longer be sent to <strong>${escapeHtml(maskAddress(s.address))}</strong>.`,
    notFoundTitle: 'This link is not valid',
    notFound: 'It may have expired, or been copied incompletely.',
    notFoundUnsubscribe: 'To stop receiving mail, please contact the sender directly.',
    errorTitle: 'Please try again',
    error: 'The request could not be completed just now. Please try again in a few minutes.',
    badRequestTitle: 'Request not understood',
    badRequest: 'Please use the button on the unsubscribe page.',
  },
  ja: {
    confirmTitle: '配信停止',
    confirm: (s: Subject) => `<strong>${sender(s, 'ja')}</strong> から <strong>${escapeHtml(maskAddress(s.address))}</strong> へのメール配信を停止しますか？`,
    confirmNote: 'ボタンを押すまで配信は停止されません。',
    button: '配信を停止する',
    doneTitle: '配信を停止しました',
    done: (s: Subject) => `<strong>${sender(s, 'ja')}</strong> から <strong>${escapeHtml(maskAddress(s.address))}</strong> へのメールは今後送信されません。`,
    notFoundTitle: 'このリンクは無効です',
    notFound: '有効期限が切れたか、リンクが途中で切れている可能性があります。',
    notFoundUnsubscribe: '配信停止をご希望の場合は、送信者に直接ご連絡ください。',
    errorTitle: 'もう一度お試しください',
    error: 'ただいま処理を完了できませんでした。数分後にもう一度お試しください。',
    badRequestTitle: 'リクエストを処理できません',
    badRequest: '配信停止ページのボタンをご利用ください。',
  },
} as const;

function sender(s: Subject, lang: Language): string {
  if (s.domain) return escapeHtml(s.domain);
  return lang === 'ja' ? 'すべての送信者' : 'every sender';
}

export function confirmPage(lang: Language, subject: Subject): string {
  const t = TEXT[lang];
  // No action attribute: the form posts to the page's own URL, whichever host served it.
  const form = `<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">${t.button}</button></form>`;
  return page(lang, t.confirmTitle, `<p>${t.confirm(subject)}</p>${form}<p class="note">${t.confirmNote}</p>`);
}

export function donePage(lang: Language, subject: Subject): string {
  const t = TEXT[lang];
  return page(lang, t.doneTitle, `<p>${t.done(subject)}</p>`);
}

export function notFoundPage(lang: Language, unsubscribe = false): string {
  const t = TEXT[lang];
  return page(lang, t.notFoundTitle, `<p>${t.notFound}</p>${unsubscribe ? `<p>${t.notFoundUnsubscribe}</p>` : ''}`);
}

export function errorPage(lang: Language): string {
  const t = TEXT[lang];
  return page(lang, t.errorTitle, `<p>${t.error}</p>`);
}

export function badRequestPage(lang: Language): string {
  const t = TEXT[lang];
  return page(lang, t.badRequestTitle, `<p>${t.badRequest}</p>`);
}

const STYLE =
  'body{font-family:system-ui,-apple-system,"Hiragino Sans","Noto Sans JP",sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222;line-height:1.6}' +
  'button{font-size:1rem;padding:.6rem 1.4rem;border:0;border-radius:.3rem;background:#c0392b;color:#fff;cursor:pointer}.note{color:#666;font-size:.9rem}';

function page(lang: Language, title: string, body: string): string {
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}
