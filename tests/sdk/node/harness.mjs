// What the example scripts share: one SDK client, a log of the HTTP requests it made, and how a
// script prints its result (one JSON object on stdout; on an unexpected error, the error on stderr
// and exit code 1).
import DodoPayments from 'dodopayments';

export const requests = [];

async function loggingFetch(url, init) {
  const response = await fetch(url, init);
  const { pathname, search } = new URL(url);
  requests.push({ method: init?.method ?? 'GET', path: pathname + search, status: response.status });
  return response;
}

// Configured the way the SDK documents: DODO_PAYMENTS_API_KEY and DODO_PAYMENTS_BASE_URL from the
// environment, default retries and timeout. Only the fetch is wrapped, to count requests.
export const client = new DodoPayments({ fetch: loggingFetch });

// Ids this run creates get a suffix, so a script can run again against the same server.
export const run = process.env.EXAMPLE_RUN_ID || Math.random().toString(36).slice(2, 10);

// An SDK error as data: HTTP status, the body's code, the SDK's message and its error class.
export function describeError(error) {
  if (!(error instanceof DodoPayments.APIError)) throw error;
  return {
    error: error.constructor.name,
    status: error.status,
    code: error.error?.code,
    message: error.message,
    body: error.error,
  };
}

// Resolves to the SDK error as data when the call fails, and fails when it succeeds.
export async function failure(promise) {
  try {
    await promise;
  } catch (error) {
    return describeError(error);
  }
  throw new Error('the call was expected to fail, and it succeeded');
}

export async function collect(iterable) {
  const items = [];
  for await (const item of iterable) items.push(item);
  return items;
}

export function main(example) {
  example().then(
    (result) => process.stdout.write(`${JSON.stringify({ ...result, requests })}\n`),
    (error) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
