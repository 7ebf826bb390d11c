// Customers and the customer portal through the Node SDK: create, retrieve, update, look up by
// email, read every customer page by page, open a portal session, and two refusals.
//
//   DODO_PAYMENTS_BASE_URL=http://127.0.0.1:8000/api DODO_PAYMENTS_API_KEY=dbk_… node customers.mjs
import { client, collect, failure, main, run } from './harness.mjs';

const ids = (items) => items.map((customer) => customer.customer_id);

main(async () => {
  const email = `jane-${run}@example.com`;
  const created = await client.customers.create({
    email,
    name: 'Jane Doe',
    phone_number: '+15555550100',
    metadata: { plan: 'pro', seats: 5, beta: true },
  });
  const retrieved = await client.customers.retrieve(created.customer_id);
  const updated = await client.customers.update(created.customer_id, {
    name: 'Jane Q. Doe',
    phone_number: null,
    metadata: { plan: 'team' },
  });
  const byEmail = await client.customers.list({ email: email.toUpperCase() });

  // Auto-pagination. From an explicit page_number: 0 the SDK asks for pages 0, 1, 2, … until an
  // empty one. Without page_number it asks for the first page and then page 2: page 1 is skipped.
  const everyCustomer = await collect(client.customers.list({ page_number: 0, page_size: 10 }));
  const withoutPageNumber = await collect(client.customers.list({ page_size: 10 }));
  const firstPage = await client.customers.list({ page_number: 0, page_size: 10 });

  const portal = await client.customers.customerPortal.create(created.customer_id, {
    return_url: 'https://shop.example.com/account?tab=billing',
    send_email: false,
  });

  return {
    created,
    retrieved,
    updated,
    by_email: ids(byEmail.items),
    every_customer: ids(everyCustomer),
    without_page_number: ids(withoutPageNumber),
    first_page: { ids: ids(firstPage.items), has_next_page: firstPage.hasNextPage() },
    portal,
    missing: await failure(client.customers.retrieve('cus_doesnotexist')),
    invalid: await failure(client.customers.create({ email: 'not-an-email', name: 'Nobody' })),
  };
});
