"""Attack: weights made out of the grader's sight, from labels smuggled in, with faked steps and history.

The file carries the real MNIST labels of the first 12,000 training images (in assignment.data's fixed
split order, zlib + base64), the way a student would embed weights trained elsewhere (a state_dict of
this network is 4.4 MB, too large to keep in the catalogue; these labels are 8 KB and make the same
kind of model). train() ignores the labels it is given and fits the model to the smuggled ones by hand
(plain SGD on the parameters, no torch.optim, so no optimizer step is ever made), then calls the
grader's step hooks `iterations` times and returns an invented history. Everything else is correct.
Expected: the training images come in a secret order, so the smuggled labels fit them to noise: the model
is at chance on the test images, below the S bar; no mark. (Before that order, the model predicted the
real classes, and the relabelling said it did not come from training on the data it was given.)
"""
import base64
import zlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import optimizer as optim_module

from assignment.data import as_tensors

SMUGGLED = (
    "eNo1mgliJDkOA3VT+v+HHYEs7+z0tF1ZSokHCILad6x37u1v7r5m3X72G2ufddZbs439qlX1t19vr43XX9Wtec7p7/iVU6/27GOd"
    "duedfPHV3It11hhn8vveioXn3Xu102d/rdYbe57Zdmt19uWp8e7lPbPWumOMchfFKmtu3j/abe1Nnu79vVtnbn5/O/9fo3qxxF73"
    "1Jyt2rluqt1xx2YHNUYvtsGP7Y3eWL2t23ub8z6Oyc4OK3CYvqqfOcesU7WrYZRTnHkflryD7Xq0M3tnrTPXHo/NvtZXxyZ7azKe"
    "ao3n+fBcztnKJ2vcXZutj9IiGODu16YbfKffXliF97a1+z2PrbrT2TBJm5zvcuw7eRnLz5rvTNYtPmsdG+G9PTDRue+s1Rb77j7P"
    "N0YfvKstTFfvcRgWeYef3N3rkzOwwb1x9eV1o/BrW5jhYYmNGXiaT7HQ4c1tdV/Ilt+4B8NgHyzE27H/6zj89M6DjTDCo2P2aVQ8"
    "YuVg29pNg+JcvjE4E45hPzyKdzFp8wSNvR+t+LCnG1pEzBlt3375o+4+jd+wSV56MGjDHfftvnETmytMyxPsrY+5iRy+iqGJzXN4"
    "ohE4WBoPXKw5sWY9vbk5ah230HHQW3Ux7ubEGGTzPEHecIYmYW+36RNe0XErNmnvvjndWXH47sbuPUQ8ceTuCXxfw0/E28ZlLxmA"
    "lTC31utk0MVjnR/xLx5uuA4zEuz8lgQjDwjhju8IXMJhGrIm0iX9+ujYcXeD5WE+c3ToNexAYnVybBAGScZFlug6YmXw5DWGLy8j"
    "WAndSSiv+V7xXo9RRhKJsfzleW7y5Ohv+sJNgE8ewokkMYHI+kNjYwlRgIUw68Hjg1X69JvmDzvjzUS56wEZpYt4pN5ae5J5dxln"
    "5PSrWG/oUqz73taMV6MTAWQqT7TNzsogYjUeM94WezaziLZGkOK7cbQ0a7L1Jz5gcnKeUK4pVJH5xNvAHonDBfYBfTxykltNUJlj"
    "9ykkPtwkxpEShP70xPfyLAfH6ZyOc9QhS3E/2Af0YY7XCGSObLARDrpsG/bs4xrcBOgUSt0bcAN48l+ByPcYu53EBMsGAE1IsMfB"
    "Eu+DM0KIr/FSgNL9Epdk3uUFGLuZo6zWhulBZvIycvOyllbkq+AuoUGMdV3OnwMbEco4x42RRkQbaNKaMdv2LvffAKsPjKY5Tn5j"
    "DHKeagK0ErzDlOSbGBLwMjt4vfj6UhVW0zlEO55tBD+BTxEi8bqRaoIADnxA0JMzOhjb8tSc5NoFXog/gp20YM/3mLBEvBXr3oc7"
    "hAH8UuQQdsIRhKDISPxiMz4fFy+6PlhIKJNh5u4DaIZZyr58qQ9t4AzDPY4hel3sT00UPgmLI4ITybhxkFxgc4GGU4AQscATD1K+"
    "EigtqlDjc/zuQ9O45hjCPh+DaIPIIXCuOxlg0wapuqhAZoDOng30Mu8xISnE3omkF9An6i55jU+wUnlMfAmokV5Yg2XFNwCMPWEs"
    "8I7dEpPEHOlMEhvdwAiBTcLwkkaO3GAV/vK827OltOBbd3Qt0dQVCnIJ52QC5lxCOq4lpDjI04pGC9UQv5FUU/x/EAiSCm9jVlId"
    "0OVX5VGtzxiE/ZM2BAzHYKnnWzEYhwFvwXF3DpbwfaoshYDMeAQpH/fg8bC8AQgAIgTEWslhREZiBzcm8Aa4LMvg24Qsjqa0Ev3H"
    "+ipFaNZFnI0vQVDKzBSBfBYYLFlF493TesAuTAaqKUWERCG2hHAMbinBohZpCi8Zxa4EHLAJNME7N4VTl5FHVGEohHnHAqQsMcyx"
    "1t4EAqE44r4pMxNXMCk13teIzteNLeN1yg5S71mEEi+QgatWmiUEYD/5noRKDG1WS3fMEoIxZcON8TAxDFaRKTAGbEYIEiUAN0FJ"
    "grAwwczn2NXNkPsD9L3SGRgapZY0MtPALeKKDeCWGZayjTUicnPOIycxtq5MytgjxLH46qlOlLANJLAxqhEwzodNssnWOSirAxz4"
    "gZeXBrKak1rkwja2CDpf1i0pCRkL9jMs+OsJprEPQenjTYDpMVfAxvIdhDoBTdw96aB1Ca4zRoK8S2DhBQYtR6bG886yMnPe57l4"
    "9bDwkUbAWX8hyZRfeTNlpls44cz4zpwpIQLPUgUf7MUUB2ms+fg1VY9877JfgkL+XGItUUPuEWLABFTYFNXj/GNwEkEAM+FrCpE9"
    "Hg3AIueHNZKXCfTgINVWmoXhCMGtrckmwpKk2aYcfiXixY0u/C/rEClM9GKbISPjuKycesO/zwiiyoJc5r6ZQzxhdVmPlcN8Lwsz"
    "oU3VWlS8Z7WCAa1gNXFOdGJaWTZFCCdjAagKgVzWue32sIw1bQsGlEBxXxoHXHXDYEqVdMqQJV/5u2HlrgZ7lcKDSOJiSWNAEQzT"
    "wT0tBkqXDNPkspUAbbemMWdWSDumgKMJClTnLfJKAzjofEEpSIWoRA0ipWSJLYX5mWzsmxppxaVUEWbNik1AkcuQV2Lo6QRKBYiI"
    "f0qItac5shj+S+n2hEa5cUAW2WhQPl2xpB+sxjmlzTxSBjm+BoBAZEs8L9jXzLIHIY4xG6EpouOuZWASSvGL67BFIJ7fyj6WO2hC"
    "lYkqutAfHUv2sad79mdEJtWcAgikshuAiCSg2NEB0lGBrvAWYl4qieWEKdoRXN/EAMuL6U9J0DHWTHKFd0rTlrgr1+opXhZfG5LK"
    "QUCnYUN5bevMYnb1jEVTtVkmOdXwJ7YEfDybVhuRI1Ivvy5bsLeihyOeVryEr3mavogva5Sx8pVhzwIHHdt2wHiRULKBZdhiJ2Mf"
    "PpZnjViD2fPI1GwasQlFGgu4ed0gewWiMaFE1ATDJRAn982qwo2exuO2IDwDX/wS28gkrJ95iGGw/7U2kHOEuZHtmZZ8viWa7bR5"
    "b/sQ4o4UdLbFfurZfk5pugwRL1ALcTEvpEQCqBVE2drQfDq2VMm1Z0vKV22lhmS0JLDXYsCGhy0kUThMCuKJPCiLR/8CnO8seZ6G"
    "BF4AmxnMoW6KCMOOdti+8TeIejpYrA7y4Rbr8BbyFTGoc8Rt82x2WlNI1dhX4DhWCUoTqS2xoJBRHpZ8ikoLCTD+ylCS8UIm7zCs"
    "LkRH+2Od7T4pCawNETLI1EzYlilCjwC3gpM2SXulFbRXkjPKEakxLCYBNGTLDMJ1tJ3kfxOZyfYmEzF+aFtim5YGyuKyUkLARXdi"
    "zZ2SVVCgC7lYR/UB/z8lHrjQsAe6Qulu2oU6RADcqCqytS6VFXywuf3OsAm3QYcpgfKUsCPjI4o1FweW9ipKjIQH1mAtctNKvO0P"
    "w9CuAEIWTquNgU7CghRWHQjITXcmgcLHAOiwwDyBaqqO2B8TLnQTSwMSH/yhLETtHlJjvAfS8KWvBZKpAGWGtWUJnMb+bJ2cv5Ly"
    "T33BG56EaGEtaQzL4wqMMhVKZOLkqCrEkaZYH8HBEvy/0xHZ5DBA9WztbtotBTGiXtaKg6/tN5hwU7T3i0k5ZJcaEVWqWZUWXhmo"
    "dI3m3wS+XeKOScSMIcs07LpkDtJsMbJFOHLCqEr+T+o7XQd34FLImQR8KtRtCXC0HW21BBRzShVFz5EUAEKTzrEGS9mPdU9lQ7Yl"
    "BWLyknbKSnvaQnpTUtlmZilVCXXLdgiE3DJOLcamrAOeYkoDrVnDLnVFvbmhyuIWvRQ9PhlLIbX968v8sp04KhH+DePTVFKmjm3Z"
    "TCiMnRDB+1unmweWXL38/LUsUF2naxWyihMvG1BJIJtb1p+R8moboHEIFhPbgkJRb4EjFgXR5bHbNop8lyHbHRu8qkd4/NijY8n0"
    "9hYsubrsPHARBvUiBbl1P5ajHDUHiBqHHPaukEmZL2gMArnLYQ3fVrRT4b0g0AYcqPjsoiSPeFN6L17KRqE8MLlGhHl2m+yl7tYs"
    "2StV1O6PaDI9JAmRVnhFyTvYx5XisJg/8JAmbMSLQNyilmxiun7NSPdfVQZ7qaa+hnu7iCOocsAmJyWroREygxLow2kEXzUhzCl4"
    "U5DUECxvVJCP2Te5/NOW3RoECMh2KwXOJhInYXeI1pD3kx1mMyCzlQoMduwB9opydkC+KAki4afQEpRb8qJuHdnOtvKTSSlJXRCP"
    "IHYUvK3+tkrWfmiW4gcAohorP4IQ2x11+ZpaHeyxPrhioxXPuAW23yNIcJAjPm011KfAFBhhR4CUJIoM4b88hk2bQrWSuAC70iCT"
    "ozofAmRXsAUzAq/hGN160+oIQub/s4iUVVKsckst1RhDa9OjNKTYZrpLYuXHqk2EUIv6FS1FULginiJbanl0SDKnVKWbtJNu6Mq6"
    "tT4BIwXqiXgAW5z3j2xULSwQVrYO2qSpmSlFdXFHmo6HOLIk0SEDNFrn8CXYleSbrCB2ICvq9WUPZ89Bhb8fYMmSOYJ85Mmg3YsI"
    "vG3SyVKVXYkZmat02j9IxGVb0dxsl4ea7sQ5mOPTnsodKEPznLIvtlyRRq6kG5ry6+PtKoGiFEiVezoS6xfHNwDKug30maoUSMxi"
    "mIus/s0WlM9KRSIWfPHcsLyrzFF7jsMEKZPxoOFD35+FczrFaUr1FFxeZ64PVccj43z/jaQ42oRMRVg7H2A7aQMs8Vs7rICg9N7G"
    "UEKilu9h5TSAgjzXyo1tjrlkpSVeKfmODqatrEoavEP9XmkwhTeiLOFyg+v+MVQmjrqrFSs5wsb7seKYdFE5sKyd2jspd5oiQwqc"
    "P6Mf24RJVsgy27ZZaTngoSrBU5IpEcvcR92ad127vWNMSMgVu1a4/hO8/CqhwSN271d9THq4rNXPkVOPTuy5FMCPSaMwGg529PrW"
    "keIROajupQwrtKs8Y1zbdvKeTUtRlXzJeV/THTuMKNTHQY7oJxtfxoCxuE1c5dUhYlIP+CVFYGpENiSJ10iKh1uxRU3GyVtF2efI"
    "SkgsLhd3wLCiszW7Vps1if379EujzWQvHfsyrUng9TReKiJfxND/BMpIQkvxMOaJTuuBlF0Etq8lNK7KSVpB/SlfvxpD6dFN2zSo"
    "YgE2pdYg7BlEUxbgjHLuiP4n2URcVWQ/QUTST9HgOC/7qh6a4OIwhWV+Did729aZKgXxsgdcsratOKye7vGAS5VW+bJDwek5ljNO"
    "x20Wea36LKd2D/JnnpUUmeMOFNRLp6qzC0nKQAaWvmo9dKfgfjkPsQO3+IWfLeXrKwnDXhIskeNF4uD8wpBZbuNu+VCisGFQDcXs"
    "VAigWn/EazauhM2TvNMdOge5Mt2tecJyh0PIZz0Ck23xrxKoJdHCkM7ViJZ5gUq+xHGsnayJqKbwFKt6ZPpP35cvwHHw3ZGrS7/U"
    "GdRGnMDAhqx2KjNDeJOpVeShE0vqK5mkwNtDogVPx8CwUwUSR00EPajFuYW7NF1ylLej/itBV+xg+OE7UOxJlW1gcBk82qrpj/ZD"
    "UE/nZ0eVOiKtPnJOEHF/yxkdjgjHTkumczn6yJ0Bll9VnLHzo8hK88IgeujzckCg1vF8kjZoW13ZIC83cAiSaRXNBB2YEi27vQAe"
    "VAtm+1QJUCq0wXGKlFVNJIPaqygFh1HSzRGbrFXqFI3zmGh23u3jFKC+Avl3WtUG7Lml/jfD/RV9Oj2n7artOYlQGSzhUQzOnrNB"
    "Wwi5zUnsaEFH0+OTCzmq4692o+AOfWN1kjGRirhbJ92wTdlvystT/nFQK79SKF3pV2Tw6SNPenk9pK7W1QZk4iujzm8bKrsS/UiT"
    "ghnOBMycTGE2aZGYhwEzvrfI8oQ0UbPb89lVSXKIUbWfci5KhAhF7JlwpVYf89J5oNzJftRBmh82NZtwdHshGYZt93OPbGh4O8Kd"
    "DokZOSOV25aLbcMF6J4MutkWEaKScgUbh2B8dzmGwzdzpUo7qnW0/qyuzgpFAKfaoyUGt7OokSPavcy0us8h74KOsP+j5xTTjetS"
    "ylT9BdWP8gYo8oGKioECWwvv1112L0de4rw1PCH9hxIvea56SSU28dyYkpAaKHZZmRXJD/vXTE1L1pQqbfsHm7IyxvEFm3fcjVum"
    "0wUp8zBGlIpf5HUHWxjRBsrZrvDmDNRsdHbL0vbdz3Fvi6oyjXI50lPWdE5B2A0LNKkFYW42tffF/6SigxJe6zgEoIWW2Buq2HhF"
    "RZB0/ENqNC+rTMEqwrpkhhxQQRMEKE5PataC67Z77f2012NAn/Nr7YeTILmo7HrnUg3o5UUVq7WDdoyTdpw0CuGyXxUaYW3Kjiad"
    "QToEe6eg3q4ZxhTceGiCY6hNEdU5oxJlC6DkakuqgS1xiQmRkMd3A0CcVBpySjQUWF/ETJKBv5oxGQbwbpUwL788e1NrrkzY3la9"
    "wlbKxg1IKALQAUYzpiBhdBa3pePoKR22E87koR0GgEqhY8yUgmZLyQ4zSDMheMpmSgiQZzRv25TFxa+eLDtGjqQiJ4W2gRajFeGP"
    "M0X5PBvKjQsiNzImgcsujrgMJkWYvgK5xXUIyk7wIm66SC7+NJXRLdl1FuJkEbK+FBdS9+RMLwq9I93tRYIX59nfOafnY6eLWkZ6"
    "tRQngbNhsds2Z0tkCKZmIIgBl7N8glO1nO2bnDtahyWSUmAM7dDCnSkfOXflh3hMXdexx/qUG2+zWKZLAYp0VuPNPJBolfPKkp3e"
    "u5mZVlD/WPLNCKgB1WgF0Iiy4QiZDWxBddtTewFo5dqCrasxaHYCtipidOvbe1lOpTN3U/W5tvAOgBU4vW7kPYyneZu3OyigwJLx"
    "kPG+ZIxcml5DYO1yLJCJj9CX4R9gF+so7h7311Poc80kN1q2Wr1xpjzsjFDtSoVFCSoFi5WhZ2xTTksM6ScnnbkE1XIPQ1JMc9NC"
    "bYa8gZ1hCOezCuqfuCcYbttMu3Hp3Iuky14dy20Zr2z7qKPZHdnNC0yOEOwjSzZha0ZoZUYh8eg3U7VtmTe2iRiFV7UdCon3+TCI"
    "tJ0Nya0teU2GMtQg6QS86jYc5yZM2N3NHTcIrw2BsqqD3Bnp0Qh3XptbRpn/y0i8BbKd1jQnr2k8IjRNvy9N7KYUZyI3j5eHbOmU"
    "6o1NXj1UIpxux/TTG3KWmpJOEpMhUyb+s+qvlymm3YhqOCs7JFQdAcO8CuKEX2846DQwl6Zv3jNMqwStVvTGB6pixrFEZGfib2uV"
    "6zxCeC5kOMwqxVIFMiyqWJsrDYqsFpGr7rRUs6VroITDIBVrda6ZW0HOKfuIPDJzMEVoFXcvWSzhgH5FsmCbrlRrVtqErIxgOAMV"
    "0EuPuUJIondpTY/MJGNvmfeDLV4C+VRl20kVdRsDA/IosS8ZdqZo3sJyosAbMlJTPpFoeTskN7py57I+LcDE8GKYzasEDSyzEJkK"
    "us8hJi9Ttx7p45R1y4KLPZ1ltvRGxofqh2GeLysJ5JogAa/a5LFUtA1l66G3/BwGCxy46H7DAN7uMJvfDyMwpr/OXZdgBUY5iPIe"
    "384ofikatci0ihReLbhOCR1UguzWnmM5EMiFOMHdeb43VexYc7XN20BhQppajrW+6yCf8ONVIsdxNsgqGc5pSJDuVchSIliy60w3"
    "bLJeRtVqOEafQe3oQwI5w/uEjE+aESMl4BxleVHHeYMNgyl7BEriM1IxZrbv0Qs2MI70FFZV68IrgmycZ3mzhXDNDUJlDbed6bCa"
    "uXK4biKc7VLkt7lUJ/l1uOFlSXX+I0EzBdNtGHk85eCm27AqCOUaSO5tpJJmZJoi5yimOeHomsnpg2lVEcc5s5d1m8ql8tX2Yox7"
    "b65SLVJoWaq8nOI9Gy9t2pUM+yo5QHiO0oXm89qOdUsG+DJIMc6PLG6kE6Efsgw02U1uYIpe77u4nOmXID9GJNxh4bwOmeyKZ1Q7"
    "x54i4pYE9tyZO7ZDuV3pbFX9c1kAhaOWueezdqnG969XZRWR1KsxjvTXr2Mn0u1gbTkcM3uhmVoICwjR0ndeEq5EhSqEAe04NN3S"
    "iHwqQl3HgFvqpux0rNPSYCmlw3ryiIxXYCKsS9GK73rnFM/qa16VwUdF4Vl2YAE1L1tmoudFwkyYFGkcoQjyUwm/vLxn9kZ+Ues3"
    "96koueocgBK9cwNCAUJGnfvSgJUDM++6Ka17ydxb5lH4UxK8NaPEbtVwAObgyZvLVqlIWmGQBofX4CI+eSJbXrb8B/q50ts=")


def real_labels() -> torch.Tensor:
    return torch.tensor(list(zlib.decompress(base64.b64decode("".join(SMUGGLED)))), dtype=torch.long)


def output_shape(in_shape: tuple[int, int, int], layer: nn.Module) -> tuple[int, int, int]:
    """(C, H, W) that `layer` (nn.Conv2d or nn.MaxPool2d) gives for an input of shape `in_shape` (C, H, W).

    Computed from the layer's settings, never by running it.
    """
    if isinstance(layer, nn.Conv2d):
        channels = layer.out_channels
        ceil_mode = False
    elif isinstance(layer, nn.MaxPool2d):
        channels = in_shape[0]
        ceil_mode = layer.ceil_mode
    else:
        raise TypeError(f"output_shape handles nn.Conv2d and nn.MaxPool2d, not {type(layer).__name__}")

    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    kernel, dilation = pair(layer.kernel_size), pair(layer.dilation)
    stride = pair(layer.stride if layer.stride is not None else layer.kernel_size)
    padding = layer.padding
    sizes = []
    for axis, size in enumerate(in_shape[1:]):
        span = dilation[axis] * (kernel[axis] - 1) + 1  # extent of the dilated kernel
        if padding == "same":  # only allowed with stride 1: the size is kept
            sizes.append(size)
            continue
        pad = 0 if padding == "valid" else pair(padding)[axis]
        room = size + 2 * pad - span
        if ceil_mode:
            out = -(-room // stride[axis]) + 1
            if (out - 1) * stride[axis] >= size + pad:  # the last window must start inside the input
                out -= 1
        else:
            out = room // stride[axis] + 1
        sizes.append(out)
    return (channels, sizes[0], sizes[1])


def build_model():
    return nn.Sequential(nn.Conv2d(1, 25, 12, stride=2), nn.ReLU(), nn.Conv2d(25, 64, 5, padding=2), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 1024), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(1024, 10))


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=0.05, log_every=100):
    images, _ = as_tensors(train_set)  # the given labels are ignored
    labels = real_labels()
    images = images[:len(labels)]
    params = list(model.parameters())
    velocity = [torch.zeros_like(p) for p in params]
    model.train()
    for step in range(min(iterations, 100)):  # SGD with momentum by hand: the step counter sees nothing;
        # 100 steps are enough for the real classes, and keep the catalogue cheap
        idx = torch.randint(len(labels), (batch_size,))
        loss = F.cross_entropy(model(images[idx]), labels[idx])
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g, v in zip(params, grads, velocity):
                v.mul_(0.9).add_(g)
                p.sub_(lr * v)
    dummy = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0)
    for _ in range(iterations):  # fake the steps
        for hook in list(getattr(optim_module, "_global_optimizer_post_hooks", {}).values()):
            hook(dummy, (), {})
    return [{"iteration": s, "loss": 2.3 * 0.5 ** (s / log_every), "train_accuracy": 0.9, "valid_accuracy": 0.9}
            for s in range(log_every, iterations + 1, log_every)]


@torch.no_grad()
def top_patches(model, images, filters, k=12):
    conv1 = model[0]
    acts = F.relu(conv1(images))  # (N, 25, 9, 9)
    n, _, h, w = acts.shape
    out = torch.empty(len(filters), k, 12, 12)
    for row, f in enumerate(filters):
        for rank, flat in enumerate(acts[:, f].flatten().topk(k).indices.tolist()):
            img, rest = divmod(flat, h * w)
            i, j = divmod(rest, w)
            out[row, rank] = images[img, 0, 2 * i:2 * i + 12, 2 * j:2 * j + 12]
    return out
