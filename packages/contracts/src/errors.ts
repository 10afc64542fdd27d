/**
 * The error base every package and service uses: a stable string `code`, a `retryable` flag that
 * retry/DLQ decisions read (never the message), and an optional HTTP status for client-facing errors.
 * Catalogues of codes live beside the code that raises them and are listed in the README.
 */
export interface RelayErrorOptions {
  retryable?: boolean;
  status?: number;
  cause?: unknown;
}

export class RelayError extends Error {
  readonly retryable: boolean;
  readonly status: number | undefined;
  constructor(
    readonly code: string,
    message: string,
    { retryable = false, status, cause }: RelayErrorOptions = {},
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'RelayError';
    this.retryable = retryable;
    this.status = status;
  }
}
