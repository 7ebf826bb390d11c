// Usage events and meters through the Node SDK: ingest (a replayed event_id is not counted twice),
// retrieve, list with filters and page by page; meters with a filter, retrieve, list, archive and
// unarchive; and two refusals.
//
//   DODO_PAYMENTS_BASE_URL=http://127.0.0.1:8000/api DODO_PAYMENTS_API_KEY=dbk_… node metering.mjs
import { client, collect, failure, main, run } from './harness.mjs';

const eventIds = (items) => items.map((event) => event.event_id);
const meterIds = (items) => items.map((meter) => meter.id);

function minutesAgo(minutes) {
  return new Date(Date.now() - minutes * 60_000).toISOString();
}

main(async () => {
  const customer = await client.customers.create({ email: `usage-${run}@example.com`, name: 'Usage Example' });
  const customerId = customer.customer_id;
  const event = (n, eventName, minutes, metadata) => ({
    event_id: `${run}-${n}`,
    customer_id: customerId,
    event_name: eventName,
    timestamp: minutes === null ? undefined : minutesAgo(minutes),
    metadata,
  });

  const events = [
    event(1, 'llm.completion', 30, { model: 'gpt-4', tokens: 150, cached: false }),
    event(2, 'llm.completion', 20, { model: 'gpt-3.5', tokens: 900 }),
    event(3, 'llm.completion', 10, { model: 'gpt-4', tokens: 50 }),
    event(4, 'api.call', null), // no timestamp: the time the server receives it
  ];
  const ingested = await client.usageEvents.ingest({ events });
  // A retry after a lost answer sends the same event_id again: it is not stored twice.
  const replayed = await client.usageEvents.ingest({ events: [events[0], event(5, 'api.call', 5)] });

  const retrieved = await client.usageEvents.retrieve(events[0].event_id);
  const everyEvent = await collect(client.usageEvents.list({ customer_id: customerId, page_number: 0, page_size: 2 }));
  const completions = await client.usageEvents.list({ customer_id: customerId, event_name: 'llm.completion' });
  const window = await client.usageEvents.list({ customer_id: customerId, start: minutesAgo(25), end: minutesAgo(15) });

  const tokens = await client.meters.create({
    name: 'GPT-4 tokens',
    description: 'Tokens of GPT-4 completions',
    event_name: 'llm.completion',
    measurement_unit: 'tokens',
    aggregation: { type: 'sum', key: 'tokens' },
    filter: { conjunction: 'and', clauses: [{ key: 'model', operator: 'equals', value: 'gpt-4' }] },
  });
  const calls = await client.meters.create({
    name: 'API calls',
    event_name: 'api.call',
    measurement_unit: 'calls',
    aggregation: { type: 'count' },
  });
  const meterEvents = await client.usageEvents.list({ meter_id: tokens.id, customer_id: customerId });
  const retrievedMeter = await client.meters.retrieve(tokens.id);
  const meters = await collect(client.meters.list({ page_number: 0 }));
  await client.meters.archive(calls.id);
  const activeAfterArchive = await client.meters.list();
  const archived = await client.meters.list({ archived: true });
  await client.meters.unarchive(calls.id);
  const archivedAfterUnarchive = await client.meters.list({ archived: true });

  return {
    customer_id: customerId,
    sent: events.map(({ event_id, timestamp }) => ({ event_id, timestamp: timestamp ?? null })),
    ingested,
    replayed,
    retrieved,
    every_event: eventIds(everyEvent),
    completions: eventIds(completions.items),
    window: eventIds(window.items),
    meters: {
      created: [tokens, calls],
      retrieved: retrievedMeter,
      every_meter: meterIds(meters),
      meter_events: eventIds(meterEvents.items),
      active_after_archive: meterIds(activeAfterArchive.items),
      archived: meterIds(archived.items),
      archived_after_unarchive: meterIds(archivedAfterUnarchive.items),
    },
    missing_event: await failure(client.usageEvents.retrieve(`${run}-missing`)),
    nested_metadata: await failure(
      client.usageEvents.ingest({ events: [event(6, 'api.call', null, { request: { path: '/v1' } })] }),
    ),
  };
});
