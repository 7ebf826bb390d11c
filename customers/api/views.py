from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from customers.api.serializers import CustomerCreateSerializer, CustomerSerializer, CustomerUpdateSerializer
from customers.filtersets import CustomerFilterSet
from customers.selectors import customer_get, customer_list
from customers.services import customer_create, customer_update
from dodo_billing.api.views import BusinessAPIView, error_responses, filterset_parameters
from dodo_billing.errors import InvalidQueryParams
from portal.services import portal_link_create


class CustomerListCreateView(BusinessAPIView):
    @extend_schema(
        operation_id="customers_list",
        summary="List customers, newest first",
        parameters=filterset_parameters(CustomerFilterSet),
        responses={200: CustomerSerializer(many=True), **error_responses(401, 422)},
    )
    def get(self, request):
        return self.paginated(
            customer_list(business=self.business, filters=request.query_params), CustomerSerializer
        )

    @extend_schema(
        operation_id="customers_create",
        summary="Create a customer (and its zero-balance wallets)",
        request=CustomerCreateSerializer,
        responses={200: CustomerSerializer, **error_responses(401, 403, 422)},
    )
    def post(self, request):
        data = self.validated(CustomerCreateSerializer, request.data)
        customer = customer_create(business=self.business, **data)
        return Response(CustomerSerializer(customer).data)


class CustomerDetailView(BusinessAPIView):
    @extend_schema(
        operation_id="customers_retrieve",
        summary="Retrieve a customer",
        responses={200: CustomerSerializer, **error_responses(401, 404)},
    )
    def get(self, request, customer_id):
        return Response(
            CustomerSerializer(customer_get(business=self.business, customer_id=customer_id)).data
        )

    @extend_schema(
        operation_id="customers_update",
        summary="Update a customer (omitted = unchanged, null = cleared)",
        request=CustomerUpdateSerializer,
        responses={200: CustomerSerializer, **error_responses(401, 403, 404, 422)},
    )
    def patch(self, request, customer_id):
        customer = customer_get(business=self.business, customer_id=customer_id)
        data = self.validated(CustomerUpdateSerializer, request.data)
        customer = customer_update(customer=customer, **data)
        return Response(CustomerSerializer(customer).data)


class CustomerPortalSessionView(BusinessAPIView):
    @extend_schema(
        operation_id="customers_customer_portal_create",
        summary="Create a single-use customer-portal link (optionally emailed to the customer)",
        request=None,
        parameters=[
            OpenApiParameter(
                "return_url",
                str,
                OpenApiParameter.QUERY,
                required=False,
                description="Absolute http(s) URL shown as a 'Back to <business>' link in the portal.",
            ),
            OpenApiParameter(
                "send_email", bool, OpenApiParameter.QUERY, required=False, description="Email the link."
            ),
        ],
        responses={
            200: inline_serializer("CustomerPortalSession", {"link": serializers.CharField()}),
            **error_responses(401, 403, 404, 422),
        },
    )
    def post(self, request, customer_id):
        customer = customer_get(business=self.business, customer_id=customer_id)
        send_email = request.query_params.get("send_email", "false")
        if send_email not in ("true", "false"):
            raise InvalidQueryParams(
                f"send_email must be true or false, got {send_email!r}.",
                extra={"errors": {"send_email": ["Must be true or false."]}},
            )
        _, url = portal_link_create(
            customer=customer,
            base_url=request.build_absolute_uri("/"),
            return_url=request.query_params.get("return_url"),
            send_email=send_email == "true",
        )
        return Response({"link": url})
