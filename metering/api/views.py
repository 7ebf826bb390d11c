from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.response import Response

from dodo_billing.api.views import BusinessAPIView, error_responses, filterset_parameters
from metering.api.serializers import (
    EventSerializer,
    IngestRequestSerializer,
    IngestResponseSerializer,
    MeterCreateSerializer,
    MeterSerializer,
    MeterUpdateSerializer,
)
from metering.filtersets import EventFilterSet, MeterFilterSet
from metering.ingestion import decode_ingest_body
from metering.selectors import event_get, event_list, meter_get, meter_list
from metering.services import events_ingest, meter_archive, meter_create, meter_unarchive, meter_update

LOCALE = OpenApiParameter(
    "locale", str, OpenApiParameter.QUERY, required=False, description="Accepted; ignored."
)


class EventIngestView(BusinessAPIView):
    @extend_schema(
        operation_id="usage_events_ingest",
        summary="Ingest 1 to 1,000 usage events",
        description=(
            "event_id is the idempotency key per business: an id stored by an earlier request is skipped and "
            "not counted; an id twice in one request rejects the request. Any bad event rejects the whole "
            "request (nothing is stored) and the error names its index and field."
        ),
        request=IngestRequestSerializer,
        responses={200: IngestResponseSerializer, **error_responses(400, 401, 403, 413, 422)},
    )
    def post(self, request):
        if request.body and not request.content_type.endswith("json"):
            raise UnsupportedMediaType(request.content_type)
        events = decode_ingest_body(request.body)
        return Response({"ingested_count": events_ingest(business=self.business, events=events)})

    @extend_schema(exclude=True)
    def get(self, request):
        # GET /events/ingest is the event whose id is "ingest".
        return Response(EventSerializer(event_get(business=self.business, event_id="ingest")).data)


class EventListView(BusinessAPIView):
    @extend_schema(
        operation_id="usage_events_list",
        summary="List usage events, newest first",
        parameters=[
            *filterset_parameters(EventFilterSet),
            OpenApiParameter(
                "meter_id",
                str,
                OpenApiParameter.QUERY,
                required=False,
                description="Events this meter counts.",
            ),
        ],
        responses={200: EventSerializer(many=True), **error_responses(400, 401, 404, 422)},
    )
    def get(self, request):
        return self.paginated(
            event_list(business=self.business, filters=request.query_params), EventSerializer
        )


class EventDetailView(BusinessAPIView):
    @extend_schema(
        operation_id="usage_events_retrieve",
        summary="Retrieve an event by its event_id",
        responses={200: EventSerializer, **error_responses(401, 404)},
    )
    def get(self, request, event_id):
        return Response(EventSerializer(event_get(business=self.business, event_id=event_id)).data)


class MeterListCreateView(BusinessAPIView):
    @extend_schema(
        operation_id="meters_list",
        summary="List meters, newest first",
        parameters=[*filterset_parameters(MeterFilterSet), LOCALE],
        responses={200: MeterSerializer(many=True), **error_responses(401, 422)},
    )
    def get(self, request):
        return self.paginated(
            meter_list(business=self.business, filters=request.query_params), MeterSerializer
        )

    @extend_schema(
        operation_id="meters_create",
        summary="Create a meter",
        request=MeterCreateSerializer,
        responses={201: MeterSerializer, **error_responses(401, 403, 422)},
    )
    def post(self, request):
        data = self.validated(MeterCreateSerializer, request.data)
        meter = meter_create(business=self.business, **data)
        return Response(MeterSerializer(meter).data, status=201)


class MeterDetailView(BusinessAPIView):
    @extend_schema(
        operation_id="meters_retrieve",
        summary="Retrieve a meter",
        parameters=[LOCALE],
        responses={200: MeterSerializer, **error_responses(401, 404)},
    )
    def get(self, request, meter_id):
        return Response(MeterSerializer(meter_get(business=self.business, meter_id=meter_id)).data)

    @extend_schema(
        operation_id="meters_update",
        summary="Update a meter's name, description or unit",
        request=MeterUpdateSerializer,
        responses={200: MeterSerializer, **error_responses(401, 403, 404, 422)},
    )
    def patch(self, request, meter_id):
        meter = meter_get(business=self.business, meter_id=meter_id)
        data = self.validated(MeterUpdateSerializer, request.data)
        return Response(MeterSerializer(meter_update(meter=meter, **data)).data)

    @extend_schema(
        operation_id="meters_archive",
        summary="Archive a meter",
        request=None,
        responses={204: OpenApiResponse(description="Archived."), **error_responses(401, 403, 404)},
    )
    def delete(self, request, meter_id):
        meter_archive(meter=meter_get(business=self.business, meter_id=meter_id))
        return Response(status=204)


class MeterUnarchiveView(BusinessAPIView):
    @extend_schema(
        operation_id="meters_unarchive",
        summary="Unarchive a meter",
        request=None,
        responses={
            200: OpenApiResponse(description="Unarchived; empty body."),
            **error_responses(401, 403, 404),
        },
    )
    def post(self, request, meter_id):
        meter_unarchive(meter=meter_get(business=self.business, meter_id=meter_id))
        return Response(status=200)
