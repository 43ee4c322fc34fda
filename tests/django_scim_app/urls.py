from django.urls import include, path
from django_scim.urls import urlpatterns as scim_urls

urlpatterns = [path("scim/v2/", include((scim_urls, "scim"), namespace="scim"))]
