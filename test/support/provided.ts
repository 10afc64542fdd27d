/** What the global setup hands to every test file through `inject`. */
declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
    databaseUrl: string;
    localBrokerPort: number;
  }
}

export {};
