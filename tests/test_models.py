"""DenseAutoencoder: a pure nn.Module rebuilt from its config."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aedetect.models.dense import ACTIVATIONS, DenseAutoencoder, DenseConfig


def test_shapes_and_encode_decode_compose():
    torch.manual_seed(0)
    model = DenseAutoencoder(DenseConfig(n_features=5, hidden_dims=[16, 8], latent_dim=3)).eval()
    x = torch.randn(7, 5)
    code = model.encode(x)
    assert code.shape == (7, 3)
    assert model(x).shape == (7, 5)
    torch.testing.assert_close(model(x), model.decoder(code))


def test_decoder_mirrors_the_encoder():
    model = DenseAutoencoder(DenseConfig(n_features=5, hidden_dims=[16, 8], latent_dim=3))
    widths = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]
    assert widths == [(5, 16), (16, 8), (8, 3), (3, 8), (8, 16), (16, 5)]


def test_latent_layer_has_no_activation():
    model = DenseAutoencoder(DenseConfig(n_features=4, hidden_dims=[8], latent_dim=2))
    assert isinstance(model.encoder[-1], nn.Linear)
    torch.manual_seed(0)
    codes = model.encode(torch.randn(200, 4))
    assert (codes < 0).any()  # not clipped at zero like a ReLU bottleneck


def test_sigmoid_output_lies_in_the_unit_interval():
    model = DenseAutoencoder(DenseConfig(n_features=4, hidden_dims=[8], latent_dim=2, output_activation="sigmoid"))
    out = model(100 * torch.randn(50, 4))
    assert ((out >= 0) & (out <= 1)).all()
    assert isinstance(model.decoder[-1], nn.Sigmoid)


@pytest.mark.parametrize(("normalization", "layer"), [("batch", nn.BatchNorm1d), ("layer", nn.LayerNorm)])
def test_normalization_and_dropout_layers(normalization, layer):
    config = DenseConfig(n_features=4, hidden_dims=[8], latent_dim=2, normalization=normalization, dropout=0.2)
    model = DenseAutoencoder(config)
    kinds = [type(m) for m in model.modules()]
    assert kinds.count(layer) == 2 and kinds.count(nn.Dropout) == 2


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_builds(activation):
    model = DenseAutoencoder(DenseConfig(n_features=4, hidden_dims=[8], latent_dim=2, activation=activation))
    assert any(isinstance(m, ACTIVATIONS[activation]) for m in model.modules())


def test_config_rebuilds_an_identical_architecture():
    config = DenseConfig(n_features=6, hidden_dims=[12], latent_dim=4, normalization="layer")
    model = DenseAutoencoder(config)
    rebuilt = DenseAutoencoder(DenseConfig(**config.to_dict()))
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(3, 6)
    torch.testing.assert_close(rebuilt.eval()(x), model.eval()(x))


def test_the_rotation_head_needs_square_images_and_reads_every_turn():
    from aedetect.models.conv import ConvAutoencoder, ConvConfig

    with pytest.raises(ValueError, match="square images"):
        ConvAutoencoder(ConvConfig(input_shape=[1, 12, 10], channels=[8], latent_dim=4, rotation_head=True))
    with pytest.raises(ValueError, match="square images"):
        ConvAutoencoder(ConvConfig(input_shape=[1, 24], channels=[8], latent_dim=4, rotation_head=True))
    model = ConvAutoencoder(ConvConfig(input_shape=[1, 12, 12], channels=[8], latent_dim=4, rotation_head=True))
    x = torch.rand(8, 144)
    with torch.no_grad():
        losses, nll = model.rotation_loss(x), model.rotation_nll(x)
        # one image in four rows: row k is turned k times, so the four losses add up to its NLL
        same = model.rotation_loss(x[:1].repeat(4, 1))
    assert losses.shape == (8,) and nll.shape == (8,)
    assert torch.all(nll > 0) and torch.all(losses > 0)
    torch.testing.assert_close(same.sum(), nll[0])
