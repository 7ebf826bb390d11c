"""Building each kind of email: the message, from branded templates, or None when there is nothing
to send (the object is gone, or the customer has no address)."""

from datetime import datetime
from email.utils import formataddr

from django.apps import apps
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from dodo_billing.money import format_money


def branded_message(*, business, to: str, kind: str, subject: str, context: dict) -> EmailMultiAlternatives:
    """``templates/email/<kind>.txt`` and ``.html`` (which extends the branded base), from the
    business's name, to ``to``, with its Reply-To."""
    context = {
        **context,
        "business": business,
        "brand_color": business.brand_color,
        "sender_name": business.email_sender_name or business.name,
    }
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"email/{kind}.txt", context),
        from_email=formataddr((context["sender_name"], settings.DEFAULT_FROM_EMAIL)),
        to=[to],
        reply_to=[business.email_reply_to] if business.email_reply_to else None,
    )
    message.attach_alternative(render_to_string(f"email/{kind}.html", context), "text/html")
    return message


def _customer(customer_id: str):
    customer = apps.get_model("customers", "Customer").objects.select_related("business")
    return customer.filter(pk=customer_id).first()


def portal_link(*, customer_id: str, url: str, expires_at: str):
    customer = _customer(customer_id)
    if customer is None or not customer.email:
        return None
    business = customer.business
    context = {
        "customer": customer,
        "url": url,
        "expires_at": datetime.fromisoformat(expires_at),
        "hours": max(1, round(settings.PORTAL_LINK_MAX_AGE / 3600)),
    }
    subject = f"Your {business.name} account"
    return branded_message(
        business=business, to=customer.email, kind="portal_link", subject=subject, context=context
    )


def _payment(payment_id: str):
    payment = apps.get_model("metering", "Payment").objects.select_related(
        "business", "customer", "invoice", "payment_method", "product", "subscription"
    )
    return payment.filter(pk=payment_id).first()


def payment_succeeded(*, payment_id: str):
    """A receipt, with the invoice PDF attached."""
    from metering.invoice_pdf import invoice_pdf_filename, render_invoice_pdf

    payment = _payment(payment_id)
    if payment is None or not payment.customer.email:
        return None
    business = payment.business
    context = {
        "customer": payment.customer,
        "payment": payment,
        "amount": format_money(payment.total_amount, payment.currency),
    }
    message = branded_message(
        business=business,
        to=payment.customer.email,
        kind="payment_succeeded",
        subject=f"Receipt from {business.name}: {context['amount']}",
        context=context,
    )
    invoice = payment.invoice
    message.attach(invoice_pdf_filename(invoice), render_invoice_pdf(invoice), "application/pdf")
    return message


def payment_failed(*, payment_id: str):
    """What failed, why, what happens next and how to fix it."""
    payment = _payment(payment_id)
    if payment is None or not payment.customer.email:
        return None
    business = payment.business
    context = {
        "customer": payment.customer,
        "payment": payment,
        "amount": format_money(payment.total_amount, payment.currency),
        "reason": payment.error_message or payment.error_code or "the card was not charged",
        "card": payment.payment_method,
        "next_retry_at": payment.next_retry_at,
    }
    return branded_message(
        business=business,
        to=payment.customer.email,
        kind="payment_failed",
        subject=f"Your payment to {business.name} did not go through",
        context=context,
    )


def balance_low(*, customer_id: str, currency: str, balance: int, threshold: int):
    customer = _customer(customer_id)
    if customer is None or not customer.email:
        return None
    business = customer.business
    context = {
        "customer": customer,
        "balance": format_money(balance, currency),
        "threshold": format_money(threshold, currency),
        "currency": currency,
    }
    return branded_message(
        business=business,
        to=customer.email,
        kind="balance_low",
        subject=f"Your {business.name} balance is low: {context['balance']}",
        context=context,
    )


BUILDERS = {
    "portal_link": portal_link,
    "payment_succeeded": payment_succeeded,
    "payment_failed": payment_failed,
    "balance_low": balance_low,
}
