from django import template

from customers.avatars import avatar_html

register = template.Library()


@register.simple_tag
def customer_avatar(customer, size: str = ""):
    """``{% customer_avatar customer "lg" %}``: the customer's initials on their colour."""
    return avatar_html(customer.name, customer.id, size)


@register.inclusion_tag("customers/includes/invite_button.html", takes_context=True)
def customer_invite_button(context, customer, small: bool = False):
    """The Invite action: emails the customer a customer-portal link (after a confirmation)."""
    return {
        "customer": customer,
        "small": small,
        "request": context.get("request"),
        "csrf_token": context.get("csrf_token"),
    }
