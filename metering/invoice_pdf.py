"""An invoice as a PDF (reportlab): who bills whom for which period, one line per charge, how it
was paid.

The file is written uncompressed with the standard Helvetica fonts and ``invariant=1``: invoices
are small, the same invoice always gives the same bytes, and its text (ids, amounts) can be found
in the file with a plain search. Helvetica covers Windows-1252, so a currency symbol outside it
(₹, ₩, ₪, …) is replaced by the ISO code, and any other character outside it by "?".
"""

from decimal import Decimal
from io import BytesIO
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from dodo_billing.money import format_money, minor_to_major
from metering.api.payloads import decimal_string
from metering.models import Invoice, InvoiceLine, PaymentStatus, RefundStatus

FONT, BOLD = "Helvetica", "Helvetica-Bold"
ENCODING = "cp1252"
WRAPPED = ParagraphStyle("invoice", fontName=FONT, fontSize=8, leading=10)
WRAPPED_DETAIL = ParagraphStyle("invoice-detail", fontName=FONT, fontSize=9, leading=11)


def _text(value) -> str:
    """``value`` as text Helvetica can draw: characters outside Windows-1252 become "?"."""
    return str(value).encode(ENCODING, errors="replace").decode(ENCODING)


def _wrapped(value, style=WRAPPED) -> Paragraph:
    """Text that wraps inside its table cell (names and descriptions can be long)."""
    return Paragraph(escape(_text(value)), style)


def money(amount: int, currency: str) -> str:
    """``format_money``, with a symbol the standard fonts cannot draw replaced by the ISO code."""
    text = format_money(amount, currency)
    try:
        text.encode(ENCODING)
    except UnicodeEncodeError:
        kept = "".join(ch for ch in text if _text(ch) == ch).strip()
        text = f"{currency} {kept}"
    return text


def unit_price(price_per_unit: Decimal, currency: str) -> str:
    """A unit price in major units at full precision (rounding it to cents would show $0.00)."""
    return f"{decimal_string(minor_to_major(price_per_unit, currency))} {currency}"


def _units(value) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else decimal_string(value)


def _date(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def invoice_pdf_filename(invoice: Invoice) -> str:
    return f"invoice-{invoice.id}.pdf"


def _payment_status(payment, currency: str) -> str:
    if payment is None:
        return "paid (included credits)"
    refunded = sum(r.amount for r in payment.refunds.all() if r.status == RefundStatus.SUCCEEDED)
    status = payment.status
    if refunded and status == PaymentStatus.SUCCEEDED:
        return f"succeeded, {money(refunded, currency)} refunded"
    if status == PaymentStatus.FAILED and payment.error_message:
        return f"failed: {payment.error_message}"
    return str(status)


def _line_rows(invoice: Invoice) -> list[list[str]]:
    currency = invoice.currency
    rows = [["Description", "Consumed", "Free", "Chargeable", "Unit price", "Amount"]]
    for line in invoice.lines.all():
        if line.kind == InvoiceLine.Kind.USAGE:
            rows.append(
                [
                    _wrapped(line.description),
                    _units(line.consumed_units),
                    _units(line.free_threshold),
                    _units(line.chargeable_units),
                    unit_price(line.price_per_unit, currency),
                    money(line.amount, currency),
                ]
            )
        else:
            label = "fixed fee" if line.kind == InvoiceLine.Kind.FIXED else "one-time purchase"
            rows.append(
                [_wrapped(f"{line.description} - {label}"), "", "", "", "", money(line.amount, currency)]
            )
    return rows


def render_invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice (with its lines, customer, business and payment loaded) as PDF bytes."""
    currency = invoice.currency
    payment = getattr(invoice, "payment", None)
    customer = invoice.customer
    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"Invoice {invoice.id}",
        author=_text(invoice.business.name),
        subject=f"Payment {payment.id}" if payment else "Invoice",
        pageCompression=0,
        invariant=1,
    )
    heading = Table(
        [
            [
                _wrapped(
                    invoice.business.name, ParagraphStyle("business", fontName=BOLD, fontSize=16, leading=19)
                ),
                "INVOICE",
            ]
        ],
        colWidths=[110 * mm, 64 * mm],
        style=TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), BOLD, 16),
                ("ALIGN", (1, 0), (1, 0), "RIGHT"),
            ]
        ),
    )
    billing = (payment.billing if payment else None) or (
        invoice.subscription.billing if invoice.subscription_id else {}
    )
    address = ", ".join(
        billing[field] for field in ("street", "city", "state", "zipcode", "country") if billing.get(field)
    )
    if invoice.period_start:
        period = f"{_date(invoice.period_start)} to {_date(invoice.period_end)}"
    else:
        period = "one-time purchase"
    details = [
        ["Invoice", invoice.id],
        ["Date", _date(invoice.created_at)],
        ["Payment", payment.id if payment else "none"],
        ["Customer", _wrapped(f"{customer.name} <{customer.email}> ({customer.id})", WRAPPED_DETAIL)],
        ["Billing address", _wrapped(address or "-", WRAPPED_DETAIL)],
        ["Period", period],
    ]
    if invoice.subscription_id:
        details.append(["Subscription", invoice.subscription_id])
    detail_table = Table(
        details,
        colWidths=[35 * mm, 139 * mm],
        style=TableStyle(
            [
                ("FONT", (0, 0), (0, -1), BOLD, 9),
                ("FONT", (1, 0), (1, -1), FONT, 9),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        ),
    )
    lines = Table(
        _line_rows(invoice),
        colWidths=[62 * mm, 22 * mm, 16 * mm, 22 * mm, 26 * mm, 26 * mm],
        repeatRows=1,
        style=TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), BOLD, 8),
                ("FONT", (0, 1), (-1, -1), FONT, 8),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
                ("LINEBELOW", (0, -1), (-1, -1), 0.3, colors.grey),
            ]
        ),
    )
    totals = [
        ["Subtotal", money(invoice.subtotal, currency)],
        ["Included credits", f"-{money(invoice.credits_applied, currency)}"],
        ["Wallet applied", f"-{money(invoice.wallet_applied, currency)}"],
        ["Amount charged", money(invoice.amount_due, currency)],
        ["Payment status", _text(_payment_status(payment, currency))],
    ]
    if payment is not None and payment.payment_method_id:
        method = payment.payment_method
        totals.append(["Payment method", _text(f"{method.card_network} ending {method.card_last_four}")])
    totals_table = Table(
        totals,
        colWidths=[134 * mm, 40 * mm],
        style=TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), FONT, 9),
                ("FONT", (0, 3), (-1, 3), BOLD, 10),
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ("LINEABOVE", (0, 3), (-1, 3), 0.6, colors.black),
            ]
        ),
    )
    note = Table(
        [[f"Amounts in {currency}. Unit prices are per unit of the meter, in {currency}."]],
        style=TableStyle([("FONT", (0, 0), (-1, -1), FONT, 7), ("TEXTCOLOR", (0, 0), (-1, -1), colors.grey)]),
    )
    document.build(
        [
            heading,
            Spacer(1, 6 * mm),
            detail_table,
            Spacer(1, 8 * mm),
            lines,
            Spacer(1, 4 * mm),
            totals_table,
            Spacer(1, 8 * mm),
            note,
        ]
    )
    return buffer.getvalue()
