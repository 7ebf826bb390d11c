"""Dashboard pages of customers: the list (search, filters, columns, export), create and edit,
and the detail page shell whose tabs other apps register."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from customers.filtersets import CustomerFilterSet
from customers.forms import CustomerForm
from customers.selectors import balance_annotation, customer_figures, customer_get, customer_table_rows
from customers.services import customer_create, customer_update
from customers.tables import CustomerTable
from dodo_billing.errors import ApplicationError, NotFound
from dodo_billing.views import ObjectListView, ObjectTab, business_required, object_tabs, register_tab

register_tab("customer", ObjectTab("About", "customers:detail", weight=0, icon="bi-person-vcard"))


class CustomerListView(ObjectListView):
    template_name = "customers/customer_list.html"
    table_class = CustomerTable
    filterset_class = CustomerFilterSet
    title = "Customers"
    export_filename = "customers.csv"

    def get_queryset(self):
        # Optional columns cost a subquery each: ask the selector only for those shown (or sorted by).
        wanted = set(CustomerTable.selected_for(self.request.user))
        wanted |= {name.strip().lstrip("-") for name in self.request.GET.get("sort", "").split(",")}
        return customer_table_rows(
            business=self.business,
            balances=[c for c in settings.WALLET_CURRENCIES if balance_annotation(c) in wanted],
            active_subscriptions="active_subscriptions" in wanted,
        )

    def extra_context_data(self) -> dict:
        advanced = set(self.request.GET) & (set(CustomerFilterSet.base_filters) - {"q"})
        return {"filters_open": any(self.request.GET.get(name) for name in advanced)}


def customer_tab_context(request, business, customer_id: str) -> dict:
    """What every tab of a customer's detail page needs: ``{"customer": ..., "tabs": ...}``.

    Another business's (or an unknown) customer raises Http404. A tab page of another app::

        register_tab("customer", ObjectTab("Wallet Ledger", "wallets:customer-ledger", 30, "bi-journal"))

        @business_required
        def customer_ledger(request, business, customer_id):
            context = customer_tab_context(request, business, customer_id)
            context["table"] = ...  # from a selector, scoped to context["customer"]
            return render(request, "wallets/customer_ledger.html", context)

    and its template extends the detail page and fills the tab::

        {% extends "customers/customer_detail.html" %}
        {% block tab_content %}...{% endblock %}

    The tab's URL takes the customer id as its only argument; its URL name is what makes the tab
    active.
    """
    try:
        customer = customer_get(business=business, customer_id=customer_id)
    except NotFound:
        raise Http404("Customer not found") from None
    match = getattr(request, "resolver_match", None)
    current = match.view_name if match else ""
    return {"customer": customer, "tabs": object_tabs("customer", customer.id, current)}


@business_required
def customer_detail(request, business, customer_id: str):
    """The "About" tab: metadata and key figures (wallet balances, entries, subscriptions)."""
    context = customer_tab_context(request, business, customer_id)
    context["figures"] = customer_figures(customer=context["customer"])
    return render(request, "customers/customer_about.html", context)


@business_required
def customer_create_view(request, business):
    form = CustomerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            customer = customer_create(business=business, **form.service_arguments())
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Customer {customer.name} created, with their wallets.")
            return redirect("customers:detail", customer.id)
    return render(
        request,
        "customers/customer_form.html",
        {"form": form, "title": "New customer", "cancel_url": reverse("customers:list")},
        status=400 if form.errors else 200,
    )


@business_required
def customer_edit_view(request, business, customer_id: str):
    try:
        customer = customer_get(business=business, customer_id=customer_id)
    except NotFound:
        raise Http404("Customer not found") from None
    form = CustomerForm(request.POST or None, initial=CustomerForm.initial_for(customer))
    if request.method == "POST" and form.is_valid():
        try:
            customer_update(customer=customer, **form.service_arguments())
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Customer {customer.name} saved.")
            return redirect("customers:detail", customer.id)
    return render(
        request,
        "customers/customer_form.html",
        {
            "form": form,
            "customer": customer,
            "title": f"Edit {customer.name}",
            "cancel_url": reverse("customers:detail", args=[customer.id]),
        },
        status=400 if form.errors else 200,
    )
