from django.contrib.auth import views as auth_views
from django.urls import path

from . import views
from .forms import EmailLoginForm

app_name = "shop"

urlpatterns = [
    path("cart/", views.cart_detail, name="cart"),
    path("cart/add/", views.cart_add, name="cart_add"),
    path("cart/update/", views.cart_update, name="cart_update"),
    path("checkout/", views.checkout, name="checkout"),
    path("orders/<str:number>/", views.order_confirmation, name="order_confirmation"),
    path("signup/", views.signup, name="signup"),
    path("newsletter/", views.newsletter, name="newsletter"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="shop/login.html", authentication_form=EmailLoginForm, next_page="/"
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="/"), name="logout"),
]
