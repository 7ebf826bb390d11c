// Prepaid credits in a customer's wallet, as a merchant's Node server would use them: welcome
// credits, usage debits that may be refused, credit purchases, balance checks, rupee credits and a
// retried purchase. Amounts are minor units: cents for USD, paise for INR.
//
//   DODO_PAYMENTS_BASE_URL=http://127.0.0.1:8000/api DODO_PAYMENTS_API_KEY=dbk_… node wallet.mjs
import { client, collect, describeError, main, run } from './harness.mjs';

// A new customer starts with $100 of credits. The key is derived from the customer, so giving the
// welcome bonus twice is refused (409) instead of paying it twice.
async function giveWelcomeCredits(customerId) {
  return client.customers.wallets.ledgerEntries.create(customerId, {
    amount: 10000,
    currency: 'USD',
    entry_type: 'credit',
    reason: 'Welcome bonus: 100 API credits',
    idempotency_key: `welcome_${customerId}`,
  });
}

// Charge usage to the USD wallet. A wallet without enough money refuses the debit with a 400 and
// writes nothing; that is an expected outcome (ask the customer to top up), not a crash.
async function chargeForUsage(customerId, cents, description) {
  try {
    const wallet = await client.customers.wallets.ledgerEntries.create(customerId, {
      amount: cents,
      currency: 'USD',
      entry_type: 'debit',
      reason: description,
    });
    return { charged: true, balance: wallet.balance };
  } catch (error) {
    if (error.status === 400 && error.message.includes('Insufficient balance')) {
      return { charged: false, reason: 'insufficient_balance', refusal: describeError(error) };
    }
    throw error;
  }
}

// Once the payment for a credit pack has succeeded, add the credits. The key names the payment, so
// a webhook delivered twice or a request retried after a time-out credits the pack once: the
// repeat answers 409, which here means "already credited".
async function purchaseCredits(customerId, paymentId, cents) {
  try {
    const wallet = await client.customers.wallets.ledgerEntries.create(customerId, {
      amount: cents,
      currency: 'USD',
      entry_type: 'credit',
      reason: `Credit pack paid by ${paymentId}`,
      idempotency_key: `purchase_${paymentId}`,
    });
    return { credited: true, balance: wallet.balance };
  } catch (error) {
    if (error.status === 409) return { credited: false, conflict: describeError(error) };
    throw error;
  }
}

// Every wallet of the customer, the USD balance, and the total of all wallets in US cents.
async function checkBalance(customerId) {
  const wallets = await client.customers.wallets.list(customerId);
  const usd = wallets.items.find((wallet) => wallet.currency === 'USD');
  return { usd: usd?.balance ?? 0, total_balance_usd: wallets.total_balance_usd, wallets: wallets.items };
}

async function hasEnoughCredits(customerId, cents) {
  return (await checkBalance(customerId)).usd >= cents;
}

// Customers in India hold rupees in their own wallet; amounts are in paise.
async function giveInrCredits(customerId, paise, reason) {
  return client.customers.wallets.ledgerEntries.create(customerId, {
    amount: paise,
    currency: 'INR',
    entry_type: 'credit',
    reason,
    idempotency_key: `inr_${reason.toLowerCase().replaceAll(' ', '_')}_${customerId}`,
  });
}

// The whole history, newest first. Iterating from an explicit page_number: 0 reads every page.
async function transactionHistory(customerId) {
  return collect(client.customers.wallets.ledgerEntries.list(customerId, { page_number: 0, page_size: 3 }));
}

main(async () => {
  const customer = await client.customers.create({ email: `wallet-${run}@example.com`, name: 'Wallet Example' });
  const id = customer.customer_id;
  const opening = await checkBalance(id);

  const welcome = await giveWelcomeCredits(id);
  const usage = [
    await chargeForUsage(id, 2500, 'GPT-4 completion, 2,500 tokens'),
    await chargeForUsage(id, 1200, 'Image generation, 3 images'),
  ];
  const beforeOverdraw = await checkBalance(id);
  // More than the wallet holds: refused. Kept apart from the example above, so that a refusal the
  // documented check does not recognise is reported rather than thrown.
  let overdraw;
  try {
    overdraw = await chargeForUsage(id, 1_000_000, 'Batch job, 10,000 documents');
  } catch (error) {
    overdraw = { charged: false, reason: 'unrecognised', refusal: describeError(error) };
  }
  const afterOverdraw = await checkBalance(id);
  const enoughForBatch = await hasEnoughCredits(id, 1_000_000);

  const paymentId = `pay_${run}`;
  const purchase = await purchaseCredits(id, paymentId, 5000);
  const purchaseRetry = await purchaseCredits(id, paymentId, 5000);
  const inr = await giveInrCredits(id, 50000, 'Diwali bonus');

  return {
    customer_id: id,
    payment_id: paymentId,
    opening,
    welcome,
    usage,
    before_overdraw: beforeOverdraw,
    overdraw,
    enough_for_batch: enoughForBatch,
    after_overdraw: afterOverdraw,
    purchase,
    purchase_retry: purchaseRetry,
    inr,
    closing: await checkBalance(id),
    history: await transactionHistory(id),
  };
});
