/**
 * SMTP error replies: smtp-server sends `err.responseCode` and `err.message`; we put the
 * enhanced status code (RFC 3463) at the front of the message ourselves, so every refusal says
 * exactly which rule refused it.
 */
export interface SmtpReplyError extends Error {
  responseCode: number;
}

export function smtpError(code: number, enhanced: string, text: string): SmtpReplyError {
  const err = new Error(`${enhanced} ${text}`) as SmtpReplyError;
  err.responseCode = code;
  return err;
}
