from django.http import HttpResponse


def home(request):
    return HttpResponse("xueji")


def login_view(request):
    return HttpResponse("login")
