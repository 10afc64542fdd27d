/** A partner answer's body as a JSON object, or why it cannot be read (retryable, possibly processed). */
export function readJsonObject(body: string): { obj: Record<string, unknown> } | { unreadable: string } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { unreadable: 'answer is not JSON' };
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) return { unreadable: 'answer is not a JSON object' };
  return { obj: json as Record<string, unknown> };
}
