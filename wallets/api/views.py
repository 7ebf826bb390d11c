from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from customers.selectors import customer_get
from dodo_billing.api.views import BusinessAPIView, error_responses, filterset_parameters
from wallets.api.serializers import LedgerEntryCreateSerializer, WalletListSerializer
from wallets.filtersets import LedgerEntryFilterSet
from wallets.payloads import CustomerWalletSerializer, CustomerWalletTransactionSerializer
from wallets.selectors import ledger_entry_list, wallet_list, wallets_total_usd
from wallets.services import wallet_ledger_entry_create


class WalletListView(BusinessAPIView):
    @extend_schema(
        operation_id="customers_wallets_list",
        summary="The customer's wallets, one per currency, and their total in US cents",
        responses={200: WalletListSerializer, **error_responses(401, 404)},
    )
    def get(self, request, customer_id):
        customer = customer_get(business=self.business, customer_id=customer_id)
        wallets = wallet_list(customer=customer)
        return Response(
            {
                "items": CustomerWalletSerializer(wallets, many=True).data,
                "total_balance_usd": wallets_total_usd(wallets=wallets),
            }
        )


class LedgerEntryListCreateView(BusinessAPIView):
    @extend_schema(
        operation_id="customers_wallets_ledger_entries_list",
        summary="The customer's wallet ledger, newest first",
        parameters=filterset_parameters(LedgerEntryFilterSet),
        responses={200: CustomerWalletTransactionSerializer(many=True), **error_responses(401, 404, 422)},
    )
    def get(self, request, customer_id):
        customer = customer_get(business=self.business, customer_id=customer_id)
        entries = ledger_entry_list(customer=customer, filters=request.query_params)
        return self.paginated(entries, CustomerWalletTransactionSerializer)

    @extend_schema(
        operation_id="customers_wallets_ledger_entries_create",
        summary="Credit or debit a wallet; returns the wallet after the entry",
        description=(
            "A reused idempotency_key answers 409 IDEMPOTENCY_KEY_ALREADY_USED (x-should-retry: false) "
            "naming the earlier entry and whether its parameters were the same; nothing is written."
        ),
        request=LedgerEntryCreateSerializer,
        responses={200: CustomerWalletSerializer, **error_responses(400, 401, 403, 404, 409, 422)},
    )
    def post(self, request, customer_id):
        customer = customer_get(business=self.business, customer_id=customer_id)
        data = self.validated(LedgerEntryCreateSerializer, request.data)
        result = wallet_ledger_entry_create(
            customer=customer,
            currency=data["currency"],
            amount=data["amount"],
            is_credit=data["entry_type"] == "credit",
            reason=data.get("reason"),
            idempotency_key=data.get("idempotency_key"),
        )
        return Response(CustomerWalletSerializer(result.wallet).data)
